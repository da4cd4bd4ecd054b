-- HTTP/1.1 pipelining for wrk: every "request" wrk writes is DEPTH
-- concatenated GETs of the URL's path (default DEPTH 16).
--   wrk ... -s bench/pipeline.lua URL -- [DEPTH]
-- wrk counts each response in "N requests", but records one latency sample
-- per batch (when the last response of the batch arrives), so the latency
-- distribution it prints is per batch of DEPTH requests.

local req

init = function(args)
   local depth = tonumber(args[1]) or 16
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format("GET", wrk.path)
   end
   req = table.concat(r)
end

request = function()
   return req
end
