-- Record creation for wrk: POST JSON bodies {"title","n","tag"} to the URL
-- (a collection's records endpoint). Bodies are generated in init() (random
-- n and tag, a numbered title) and cycled, so request() costs wrk no work.
--   wrk ... -s bench/records_create.lua URL
-- Fill mode: with BENCH_FILL_LIMIT=N in the environment, the script also
-- counts responses and ends wrk (os.exit, so no summary is printed) after N
-- 2xx answers: wrk has no request cap, and wrk.thread:stop() would leave its
-- main thread sleeping for the rest of -d. Up to -c requests already sent
-- still complete on the server, so count the rows afterwards. After 100
-- non-2xx answers it prints the last one and exits with status 1. Only in
-- fill mode is response() defined: wrk hands responses to Lua only when the
-- script asks for them.

local reqs, nreqs, next_req = {}, 4096, 0
local tags = { "a", "b", "c", "d", "e" }

init = function(args)
   math.randomseed(os.time())
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   for i = 1, nreqs do
      local body = string.format('{"title":"benchmark post %d %08x","n":%d,"tag":"%s"}',
         i, math.random(0, 0x7fffffff), math.random(0, 1000000), tags[math.random(1, #tags)])
      reqs[i] = wrk.format(nil, nil, nil, body)
   end
end

request = function()
   next_req = next_req % nreqs + 1
   return reqs[next_req]
end

local limit = tonumber(os.getenv("BENCH_FILL_LIMIT") or "")
if limit then
   local ok, bad = 0, 0
   response = function(status, headers, body)
      if status >= 200 and status < 300 then
         ok = ok + 1
         if ok >= limit then
            io.stdout:write(string.format("fill: %d 2xx, %d non-2xx\n", ok, bad))
            io.stdout:flush()
            os.exit(0)
         end
      else
         bad = bad + 1
         if bad >= 100 then
            io.stdout:write(string.format("fill: %d 2xx, %d non-2xx; last: %d %s\n", ok, bad, status, body))
            io.stdout:flush()
            os.exit(1)
         end
      end
   end
end
