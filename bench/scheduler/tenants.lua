-- wrk script: GET one tenant's daily metrics per request, cycling through the 1,000 seeded tenants
-- (ids 00000000-0000-4000-8000-000000000001 …03e8). Arguments: from to.
local from, to
local i = 0

function init(args)
  from, to = args[1], args[2]
  i = math.random(0, 999)
end

function request()
  i = (i + 1) % 1000
  local tenant = string.format("00000000-0000-4000-8000-%012x", i + 1)
  return wrk.format("GET", "/api/v1/tenants/" .. tenant .. "/metrics/daily?from=" .. from .. "&to=" .. to)
end
