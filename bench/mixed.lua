-- Mixed requests for wrk, for the RSS soak (bench/scenarios/rss-soak.sh): a
-- fixed cycle of 10 requests, 4 x GET /api/health, 3 x GET one record (ids
-- picked at random from IDS_FILE), 2 x the list of REC_LIST's form and 1 x
-- POST one record into posts_create. Built in init(), so request() only picks.
-- wrk has no request cap: response() counts the answers and ends wrk with
-- os.exit after LIMIT of them, printing one line first:
--   mixed responses=N ok=N bad=N
--   wrk -t1 -c64 -d600s -s bench/mixed.lua http://host:port -- IDS_FILE LIMIT
-- Status: 0, or 1 if any answer was not 2xx.

local get, ngets = {}, 0
local cycle, pos = {}, 0
local limit, seen, bad = 100000, 0, 0

init = function(args)
   local file = args[1] or error("mixed.lua: usage: -- IDS_FILE LIMIT")
   limit = tonumber(args[2] or "") or limit
   math.randomseed(os.time())
   for id in io.lines(file) do
      if id:match("^[a-z0-9]+$") then
         ngets = ngets + 1
         get[ngets] = wrk.format("GET", "/api/collections/posts/records/" .. id)
      end
   end
   if ngets == 0 then
      error("mixed.lua: no ids in " .. file)
   end
   local health = wrk.format("GET", "/api/health")
   local list = wrk.format("GET", "/api/collections/posts/records?filter=%28tag%3D%27b%27%29&sort=-n&perPage=20")
   local create = wrk.format("POST", "/api/collections/posts_create/records",
      { ["Content-Type"] = "application/json" }, '{"title":"soak post","n":7,"tag":"c"}')
   cycle = { health, "get", health, list, "get", health, create, "get", health, list }
end

request = function()
   pos = pos % #cycle + 1
   local r = cycle[pos]
   if r == "get" then
      return get[math.random(1, ngets)]
   end
   return r
end

response = function(status, headers, body)
   seen = seen + 1
   if status < 200 or status >= 300 then
      bad = bad + 1
   end
   if seen >= limit then
      io.stdout:write(string.format("mixed responses=%d ok=%d bad=%d\n", seen, seen - bad, bad))
      io.stdout:flush()
      os.exit(bad == 0 and 0 or 1)
   end
end
