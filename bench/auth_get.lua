-- GET the URL with an Authorization header, for wrk:
--   wrk ... -s bench/auth_get.lua URL -- TOKEN_FILE
-- TOKEN_FILE holds the token (its first line), so that it stays out of the
-- process list. Without an argument the request goes out without the header.
-- The request is built once in init(): request() costs wrk no work.

local req

init = function(args)
   local file = args[1]
   if file then
      local f = assert(io.open(file, "r"), "auth_get.lua: cannot open " .. file)
      local token = f:read("*l")
      f:close()
      if not token or token == "" then
         error("auth_get.lua: no token in " .. file)
      end
      wrk.headers["Authorization"] = token
   end
   req = wrk.format("GET")
end

request = function()
   return req
end
