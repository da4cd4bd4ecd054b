-- Fetch one record by id for wrk: GET URL/<id>, with <id> picked at random
-- among the ids listed (one per line) in IDS_FILE. The requests are built in
-- init(), so request() only picks one.
--   wrk ... -s bench/records_get.lua http://host:port/api/collections/posts/records -- IDS_FILE

local reqs, n = {}, 0

init = function(args)
   local file = args[1] or error("records_get.lua: usage: -- IDS_FILE")
   math.randomseed(os.time())
   for id in io.lines(file) do
      if id:match("^[a-z0-9]+$") then
         n = n + 1
         reqs[n] = wrk.format("GET", wrk.path .. "/" .. id)
      end
   end
   if n == 0 then
      error("records_get.lua: no ids in " .. file)
   end
end

request = function()
   return reqs[math.random(1, n)]
end
