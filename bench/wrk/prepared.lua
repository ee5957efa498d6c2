-- A list of prepared bodies, each sent once (send: distinct phone numbers; otp: one code
-- each), then a clean stop when they are used up (lib.lua, sequence). Each request carries
-- X-Request-Id "bench-<line number>"; with a capture file, the answers' `capture` field is
-- written there as "<line number>\t<value>" (the send phase's otp_token, for the otp phase).
-- Arguments: path expected-field headers bodies-file marker-file [capture-field capture-file]
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
local bench = dofile(dir .. "lib.lua")
local path, expected, headers, bodies, seq, capture, out

function init(args)
  path = args[1]
  expected = args[2]
  headers = bench.headers(args[3])
  headers["Content-Type"] = "application/json"
  bodies = bench.lines(args[4])
  seq = bench.sequence(#bodies, args[5])
  capture = args[6]
  if capture then
    out = io.open(args[7], "w")
    out:setvbuf("line")
  end
end

function delay()
  return seq.delay()
end

function request()
  local i = seq.take()
  headers["X-Request-Id"] = "bench-" .. i
  return wrk.format("POST", path, headers, bodies[i])
end

function response(status, headers, body)
  if bench.check(status, body, expected) and capture then
    local id = headers["X-Request-Id"] or headers["x-request-id"] or ""
    local value = string.match(body, '"' .. capture .. '"%s*:%s*"([^"]+)"')
    out:write(string.match(id, "%d+$") .. "\t" .. value .. "\n")
  end
  seq.answered()
end
