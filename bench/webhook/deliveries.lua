-- wrk script: each thread sends its own share of pre-signed deliveries (see make_deliveries.py),
-- each exactly once, and stops when it runs out. Prints acknowledged (2xx) deliveries at the end.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, count = args[1], tonumber(args[2])
  signatures, bodies, next_index = {}, {}, 1
  local line_number = 0
  for line in io.lines(path) do
    if line_number % count == id then
      local tab = line:find("\t", 1, true)
      signatures[#signatures + 1] = line:sub(1, tab - 1)
      bodies[#bodies + 1] = line:sub(tab + 1)
    end
    line_number = line_number + 1
  end
  acknowledged, refused = 0, 0
end

function request()
  local i = next_index
  if i > #bodies then
    wrk.thread:stop()
    i = #bodies
  end
  next_index = i + 1
  return wrk.format("POST", "/meta/webhook",
    {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = signatures[i]}, bodies[i])
end

function response(status, headers, body)
  if status == 200 then acknowledged = acknowledged + 1 else refused = refused + 1 end
end

function done(summary, latency, requests)
  local acked, failed = 0, 0
  for _, thread in ipairs(threads) do
    acked = acked + thread:get("acknowledged")
    failed = failed + thread:get("refused")
  end
  io.write(string.format("ACKED=%d REFUSED=%d\n", acked, failed))
end
