-- One request, the same every time: discovery (GET) and client_credentials (POST, HTTP Basic).
-- Arguments: method path expected-field headers ("Name: value|..." or "-") [body]
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
local bench = dofile(dir .. "lib.lua")
local expected

function init(args)
  wrk.method = args[1]
  wrk.path = args[2]
  expected = args[3]
  for name, value in pairs(bench.headers(args[4])) do
    wrk.headers[name] = value
  end
  wrk.body = args[5]
end

function response(status, headers, body)
  bench.check(status, body, expected)
end
