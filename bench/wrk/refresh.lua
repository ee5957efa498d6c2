-- refresh_token grant with rotation, a fresh token every request. The thread starts from the
-- seed tokens (at least twice the connections) and queues each answer's new refresh_token for
-- a later request, so the phase can last as long as it likes. Every token sent is remembered:
-- `stats.reused` counts a token sent twice (the chaining's own check; the server would refuse
-- the second use and revoke the family, so it would show up as errors too).
-- Arguments: path headers seeds-file
local dir = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
local bench = dofile(dir .. "lib.lua")
local path, headers
local queue, head, tail = {}, 1, 0
local spent = {}

function init(args)
  path = args[1]
  headers = bench.headers(args[2])
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  for _, token in ipairs(bench.lines(args[3])) do
    tail = tail + 1
    queue[tail] = token
  end
  stats.seeded = tail
  stats.spent = 0
  stats.reused = 0
  stats.starved = 0
end

function request()
  local token = queue[head]
  if token == nil then -- only after failed answers: a token that cannot work, counted as an error
    stats.starved = stats.starved + 1
    token = "no-token-left"
  else
    queue[head] = nil
    head = head + 1
    if spent[token] then
      stats.reused = stats.reused + 1
    end
    spent[token] = true
    stats.spent = stats.spent + 1
  end
  local body = "grant_type=refresh_token&refresh_token=" .. bench.urlencode(token)
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if bench.check(status, body, '"refresh_token"') then
    local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    tail = tail + 1
    queue[tail] = token
  end
end
