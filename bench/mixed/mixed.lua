-- wrk script of bench/mixed: one kind of traffic per wrk process, chosen by the first argument.
--   webhooks FILE THREADS          pre-signed deliveries ("signature<TAB>body"), each sent once,
--                                  split between the threads; a thread stops when it runs out
--   reads    FILE THREADS TOKEN    GETs ("op<TAB>path"), every thread cycling through all of them
--   writes   FILE THREADS TOKEN    requests ("owner<TAB>op<TAB>method<TAB>path<TAB>if-match<TAB>body");
--                                  owner is a thread index or *. A line with an if-match sends the
--                                  revision the last 200 for its path answered (a flow draft owned by
--                                  one thread), else the file's.
--                                  In bodies {n} is a per-thread counter, {mod100} it modulo 100,
--                                  {bool} alternates true and false.
-- reads and writes need one connection per thread (-c equal to -t): each response then belongs to
-- the thread's last request, so statuses are counted per operation.
-- done() prints one line, "RESULT " and JSON: requests, latency percentiles (µs), wrk's errors,
-- 2xx and other answers per operation, and whether a webhook thread ran out of deliveries.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
  return fields
end

function init(args)
  mode, nthreads, token = args[1], tonumber(args[3]), args[4]
  items, next_index, counter, exhausted = {}, 1, 0, 0
  ok, bad, last_bad, revisions = {}, {}, {}, {}
  local n = 0
  for line in io.lines(args[2]) do
    if mode == "webhooks" then
      if n % nthreads == id then
        local tab = line:find("\t", 1, true)
        items[#items + 1] = {op = "webhook", sig = line:sub(1, tab - 1), body = line:sub(tab + 1)}
      end
    elseif mode == "reads" then
      local f = split(line)
      items[#items + 1] = {op = f[1], method = "GET", path = f[2]}
    else
      local f = split(line)
      if f[1] == "*" or tonumber(f[1]) == id then
        items[#items + 1] = {op = f[2], method = f[3], path = f[4], ifmatch = f[5] ~= "-" and f[5] or nil, body = f[6]}
      end
    end
    n = n + 1
  end
  if mode ~= "webhooks" then next_index = (id * 7) % #items + 1 end -- threads start apart
end

function request()
  local item
  if mode == "webhooks" then
    if next_index > #items then
      exhausted = 1
      wrk.thread:stop()
      next_index = #items
    end
    item = items[next_index]
    next_index = next_index + 1
    current = item
    return wrk.format("POST", "/meta/webhook",
      {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = item.sig}, item.body)
  end
  item = items[next_index]
  next_index = next_index % #items + 1
  current = item
  local headers = {["Authorization"] = "Bearer " .. token}
  local body = nil
  if item.method ~= "GET" then
    counter = counter + 1
    headers["Content-Type"] = "application/json"
    body = item.body:gsub("{n}", tostring(counter)):gsub("{mod100}", tostring(counter % 100))
      :gsub("{bool}", counter % 2 == 0 and "true" or "false")
    if item.ifmatch then headers["If-Match"] = revisions[item.path] or item.ifmatch end
  end
  return wrk.format(item.method, item.path, headers, body)
end

function response(status, headers, body)
  local op = current and current.op or "?"
  if status >= 200 and status < 300 then
    ok[op] = (ok[op] or 0) + 1
    if mode == "writes" and current.ifmatch and body then
      local revision = body:match('"revision"%s*:%s*(%d+)')
      if revision then revisions[current.path] = revision end
    end
  else
    bad[op] = (bad[op] or 0) + 1
    last_bad[op] = status
  end
end

local function json_counts(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local all_ok, all_bad, statuses, ran_out = {}, {}, {}, 0
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("ok")) do all_ok[k] = (all_ok[k] or 0) + v end
    for k, v in pairs(thread:get("bad")) do all_bad[k] = (all_bad[k] or 0) + v end
    for k, v in pairs(thread:get("last_bad")) do statuses[k] = v end
    ran_out = ran_out + thread:get("exhausted")
  end
  local e = summary.errors
  local mode = threads[1]:get("mode")
  io.write(string.format(
    'RESULT {"mode":"%s","requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},"ok":%s,"bad":%s,"last_bad_status":%s,"ran_out":%d}\n',
    mode, summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status, json_counts(all_ok), json_counts(all_bad), json_counts(statuses), ran_out))
end
