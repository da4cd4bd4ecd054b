-- Login flood for wrk: POST {"identity","password"} to the URL (an auth
-- collection's auth-with-password), cycling through COUNT accounts whose
-- emails are string.format(EMAIL_FMT, i) for i = 0..COUNT-1, all with PASSWORD.
--   wrk -t1 -c64 -d300s -s bench/auth_login.lua URL -- EMAIL_FMT COUNT PASSWORD LIMIT
-- wrk has no request cap: like records_create.lua's fill mode, response()
-- counts every answer and ends wrk with os.exit (so wrk prints no summary)
-- after LIMIT responses, printing one line first:
--   logins responses=N ok=N e400=N e429=N e503=N other=N elapsed_s=S first_s=S
-- (elapsed_s: from the first request to the LIMIT-th response; first_s: the
-- first response's latency; both by LuaJIT's ffi clock_gettime, -1 without it).
-- Status: 0, or 1 if no response was 2xx.

local reqs, nreqs, next_req = {}, 0, 0
local limit = 1000
local counts = { ok = 0, e400 = 0, e429 = 0, e503 = 0, other = 0 }
local seen = 0
local t_first_req, t_first_resp = nil, nil

local now = function() return -1 end
do
   local ok, ffi = pcall(require, "ffi")
   if ok then
      pcall(ffi.cdef, [[
         typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
         int clock_gettime(int clk_id, bench_timespec *tp);
      ]])
      local ts = ffi.new("bench_timespec")
      now = function()
         ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
         return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
      end
   end
end

init = function(args)
   local fmt, count, password = args[1], tonumber(args[2] or ""), args[3]
   limit = tonumber(args[4] or "") or limit
   if not (fmt and count and count > 0 and password) then
      error("auth_login.lua: usage: -- EMAIL_FMT COUNT PASSWORD [LIMIT]")
   end
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   for i = 0, count - 1 do
      local body = string.format('{"identity":"%s","password":"%s"}', string.format(fmt, i), password)
      nreqs = nreqs + 1
      reqs[nreqs] = wrk.format(nil, nil, nil, body)
   end
end

request = function()
   if not t_first_req then t_first_req = now() end
   next_req = next_req % nreqs + 1
   return reqs[next_req]
end

response = function(status, headers, body)
   seen = seen + 1
   if not t_first_resp then t_first_resp = now() end
   if status >= 200 and status < 300 then
      counts.ok = counts.ok + 1
   elseif status == 400 then
      counts.e400 = counts.e400 + 1
   elseif status == 429 then
      counts.e429 = counts.e429 + 1
   elseif status == 503 then
      counts.e503 = counts.e503 + 1
   else
      counts.other = counts.other + 1
   end
   if seen >= limit then
      local t = now()
      local elapsed = (t >= 0 and t_first_req) and (t - t_first_req) or -1
      local first = (t >= 0 and t_first_req) and (t_first_resp - t_first_req) or -1
      io.stdout:write(string.format(
         "logins responses=%d ok=%d e400=%d e429=%d e503=%d other=%d elapsed_s=%.3f first_s=%.3f\n",
         seen, counts.ok, counts.e400, counts.e429, counts.e503, counts.other, elapsed, first))
      io.stdout:flush()
      os.exit(counts.ok > 0 and 0 or 1)
   end
end
