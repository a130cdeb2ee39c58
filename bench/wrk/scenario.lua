-- One wrk script for every scenario. Arguments (after `--`):
--   1 method          GET or POST
--   2 path template   "{id}" is replaced by a random number in 1..max_id
--   3 max_id          spread of ids (e.g. 10000 contacts, so row locks rarely collide)
--   4 token           API key for "Authorization: Bearer …", or "-" for none
--   5 body            request body (POST), or "-" for none
-- then, optionally, any of these as name=value:
--   paths=FILE        one request path per line; each request takes one instead of the template
--   cookies=FILE      one Cookie header value per line ("name=value"); each request takes one
--   pick=random|roundrobin
--                     how a line is picked (default random); roundrobin gives each thread every
--                     `threads`-th line from its own start, so no two threads send the same line
--                     and a line comes back only after the whole file was sent
--   threads=N         wrk's -t, needed by roundrobin
--   content_type=T    Content-Type of the body (default application/json)
--   run=ID            makes "{seq}" in the path and body unique per request: ID-<thread>-<n>
--                     (a sign-up creates a new contact each time)
--   requests=FILE     whole requests, one per line: path, then each header as "Name: value", then
--                     the body, separated by tabs (a signed webhook call: its own headers and
--                     body each time); taken round-robin like paths, instead of them and the body
--   then=FILE         a second request (three lines: method, path, body or "-") sent after each
--                     one above, with the same "{seq}": PUT then POST for one contact. Run with
--                     one connection per thread (-t = -c), so the two go in order.
-- Lines from both files are picked with the same index when their counts match (cookie n goes
-- with path n), independently otherwise.
-- `done` prints one line "BENCH_JSON {…}" that bench/run.py parses.

local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_id", thread_count)
end

local function read_lines(name)
   local file = assert(io.open(name, "r"))
   local lines = {}
   for line in file:lines() do
      if line ~= "" then
         lines[#lines + 1] = line
      end
   end
   file:close()
   assert(#lines > 0, name .. " has no lines")
   return lines
end

function init(args)
   method = args[1]
   template = args[2]
   max_id = tonumber(args[3])
   headers = {}
   if args[4] ~= "-" then
      headers["Authorization"] = "Bearer " .. args[4]
   end
   local options = {}
   for i = 6, #args do
      local name, value = string.match(args[i], "^([%w_]+)=(.*)$")
      assert(name, "option " .. args[i] .. " is not name=value")
      options[name] = value
   end
   body = nil
   if args[5] ~= "-" then
      body = args[5]
      headers["Content-Type"] = options.content_type or "application/json"
   end
   paths = options.paths and read_lines(options.paths) or nil
   whole = nil
   if options.requests then
      whole = {}
      for _, line in ipairs(read_lines(options.requests)) do
         local fields = {}
         for field in string.gmatch(line, "[^\t]+") do
            fields[#fields + 1] = field
         end
         local own = {}
         for k, v in pairs(headers) do
            own[k] = v
         end
         own["Content-Type"] = options.content_type or "application/json"
         for i = 2, #fields - 1 do
            local name, value = string.match(fields[i], "^([^:]+): (.*)$")
            own[name] = value
         end
         whole[#whole + 1] = { path = fields[1], headers = own, body = fields[#fields] }
      end
   end
   cookies = options.cookies and read_lines(options.cookies) or nil
   round_robin = options.pick == "roundrobin"
   step = tonumber(options.threads or "1")
   position = (thread_id or 1) - 1 -- 0-based; advanced by `step` per request
   run = options.run
   serial = 0
   then_request = nil
   if options["then"] then
      local lines = read_lines(options["then"])
      then_request = { method = lines[1], path = lines[2], body = lines[3] ~= "-" and lines[3] or nil }
   end
   second = false -- the next request is then_request
   sent_main = false
   if then_request then
      -- Ordered by answers, not by calls: wrk calls request() once on the first thread to check
      -- it before any is sent, so counting calls would send that thread's first POST alone.
      response = function(status, headers, body)
         second = sent_main
      end
   end
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

local function pick(lines, shared)
   if shared then
      return lines[shared]
   end
   if round_robin then
      return lines[position % #lines + 1]
   end
   return lines[math.random(1, #lines)]
end

local function numbered(text)
   if text and run then
      return (text:gsub("{seq}", run .. "-" .. tostring(thread_id or 1) .. "-" .. tostring(serial)))
   end
   return text
end

function request()
   if then_request and second then
      second, sent_main = false, false
      return wrk.format(then_request.method, numbered(then_request.path), headers, numbered(then_request.body))
   end
   if run then
      serial = serial + 1
   end
   sent_main = then_request ~= nil
   if whole then
      local r = round_robin and whole[position % #whole + 1] or whole[math.random(1, #whole)]
      position = position + step
      return wrk.format(method, r.path, r.headers, r.body)
   end
   local shared = nil
   if paths and cookies and #paths == #cookies then
      shared = round_robin and (position % #paths + 1) or math.random(1, #paths)
   end
   local path
   if paths then
      path = pick(paths, shared)
   else
      path = (template:gsub("{id}", tostring(math.random(1, max_id))))
   end
   if cookies then
      headers["Cookie"] = pick(cookies, shared)
   end
   position = position + step
   return wrk.format(method, numbered(path), headers, numbered(body))
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
