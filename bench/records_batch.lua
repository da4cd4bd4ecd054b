-- Batches of record creates for wrk: POST /api/batch bodies of N creates
-- (default 50) into one collection's records, each create a body like
-- records_create.lua's {"title","n","tag"}. Bodies are generated in init()
-- and cycled, so request() costs wrk no work.
--   wrk ... -s bench/records_batch.lua http://HOST:PORT/api/batch -- COLLECTION [N]

local reqs, nreqs, next_req = {}, 256, 0
local tags = { "a", "b", "c", "d", "e" }

init = function(args)
   local coll = args[1] or "posts_create"
   local n = tonumber(args[2] or "50")
   math.randomseed(os.time())
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   local url = "/api/collections/" .. coll .. "/records"
   for i = 1, nreqs do
      local items = {}
      for k = 1, n do
         items[k] = string.format(
            '{"method":"POST","url":"%s","body":{"title":"batch post %d %d %08x","n":%d,"tag":"%s"}}',
            url, i, k, math.random(0, 0x7fffffff), math.random(0, 1000000), tags[math.random(1, #tags)])
      end
      reqs[i] = wrk.format(nil, nil, nil, '{"requests":[' .. table.concat(items, ",") .. ']}')
   end
end

request = function()
   next_req = next_req % nreqs + 1
   return reqs[next_req]
end

local bad = 0
response = function(status, headers, body)
   if status ~= 200 then
      bad = bad + 1
      if bad == 1 then
         io.stderr:write(string.format("batch answered %d: %s\n", status, body))
      end
   end
end

done = function(summary, latency, requests)
   io.stdout:write(string.format("non-200: %d\n", bad))
end
