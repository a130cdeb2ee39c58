-- One wrk script for every scenario. Arguments (after `--`):
--   1 method          GET or POST
--   2 path template   "{id}" is replaced by a random number in 1..max_id
--   3 max_id          spread of ids (e.g. 10000 contacts, so row locks rarely collide)
--   4 token           API key for "Authorization: Bearer …", or "-" for none
--   5 body            JSON body (POST), or "-" for none
-- `done` prints one line "BENCH_JSON {…}" that bench/run.py parses.

local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_id", thread_count)
end

function init(args)
   method = args[1]
   template = args[2]
   max_id = tonumber(args[3])
   headers = {}
   if args[4] ~= "-" then
      headers["Authorization"] = "Bearer " .. args[4]
   end
   body = nil
   if args[5] ~= "-" then
      body = args[5]
      headers["Content-Type"] = "application/json"
   end
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

function request()
   local path = (template:gsub("{id}", tostring(math.random(1, max_id))))
   return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)))
end
