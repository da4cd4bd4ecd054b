-- Record creation for wrk spread over the collections rt0..rt9 (the realtime
-- scenario): POST {"title","n","tag"} to /api/collections/rt<i>/records,
-- cycling the collection per request. Bodies are made in init().
--   wrk ... -s bench/realtime_create.lua http://HOST:PORT
local reqs, nreqs, next_req = {}, 4000, 0

init = function(args)
   local colls = tonumber(os.getenv("RT_COLLS") or "10")
   for i = 1, nreqs do
      local body = string.format('{"title":"load %d","n":%d,"tag":"t"}', i, i)
      local path = string.format("/api/collections/rt%d/records", i % colls)
      reqs[i] = wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
   end
end

request = function()
   next_req = next_req % nreqs + 1
   return reqs[next_req]
end
