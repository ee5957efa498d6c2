-- Shared by the scenario scripts of bench/run.py (wrk 4, one thread, LuaJIT).
--
-- Each script loads this file (dofile) in every Lua state wrk makes: the thread's, where
-- request()/response()/delay() run, and the main one, where setup() and done() run. A
-- response counts as ok only when it is a 200 carrying the expected field; the counts live in
-- the thread's global `stats`, which done() reads back with thread:get() and prints, with
-- wrk's own summary and latency percentiles, as one line "BENCH_JSON {...}" for bench/run.py.
local M = {}

-- flat: wrk 4.1's thread:get() crashes on a table inside a table
stats = { ok = 0, bad = 0, statuses = "", sample = "" }
local statuses = {}

function M.check(status, body, field)
  if status == 200 and body ~= nil and string.find(body, field, 1, true) then
    stats.ok = stats.ok + 1
    return true
  end
  stats.bad = stats.bad + 1
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  local parts = {}
  for k, v in pairs(statuses) do
    parts[#parts + 1] = k .. "=" .. v
  end
  stats.statuses = table.concat(parts, " ")
  if stats.sample == "" then
    stats.sample = key .. " " .. string.sub(body or "", 1, 300)
  end
  return false
end

-- the non-empty lines of a file, in order
function M.lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then
      out[#out + 1] = line
    end
  end
  return out
end

function M.urlencode(text)
  return (string.gsub(text, "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

-- headers from "Name: value|Name: value" (the scripts' command-line form; "-" for none)
function M.headers(spec)
  local out = {}
  if spec and spec ~= "-" then
    for pair in string.gmatch(spec, "[^|]+") do
      local name, value = string.match(pair, "^([^:]+):%s*(.*)$")
      out[name] = value
    end
  end
  return out
end

-- A fixed list of prepared requests, each sent once. When the list is used up, delay() holds
-- every connection back, the answers still on the way are awaited, then the thread stops and
-- `marker` is written so bench/run.py can end wrk at once (wrk itself would sleep on until
-- its -d duration). Requires the script to define delay() as `return seq.delay()`.
function M.sequence(count, marker)
  local seq = { next = 0, sent = 0, received = 0, exhausted = false, stopped = false }
  stats.prepared = count
  stats.used = 0
  stats.used_up = 0

  function seq.finish()
    if seq.exhausted and not seq.stopped and seq.received == seq.sent then
      seq.stopped = true
      stats.used_up = 1
      local f = io.open(marker, "w")
      f:write("used up\n")
      f:close()
      wrk.thread:stop()
    end
  end

  function seq.delay()
    if seq.next >= count then
      seq.exhausted = true
      seq.finish()
      return 3600000
    end
    return 0
  end

  function seq.take()
    seq.next = seq.next + 1
    seq.sent = seq.sent + 1
    stats.used = seq.next
    return seq.next
  end

  function seq.answered()
    seq.received = seq.received + 1
    seq.finish()
  end

  return seq
end

-- -- the main state: setup() and done() ----------------------------------------------------
local function encode(value)
  local kind = type(value)
  if kind == "table" then
    local parts = {}
    for k, v in pairs(value) do
      parts[#parts + 1] = encode(tostring(k)) .. ":" .. encode(v)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "string" then
    return '"' .. string.gsub(value, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
    end) .. '"'
  elseif kind == "number" then
    return string.format("%.17g", value)
  elseif kind == "boolean" then
    return tostring(value)
  end
  return "null"
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local out = {
    duration_us = summary.duration,
    requests = summary.requests,
    socket_errors = summary.errors,
    p50_us = latency:percentile(50),
    p90_us = latency:percentile(90),
    p99_us = latency:percentile(99),
    max_us = latency.max,
    mean_us = latency.mean,
    threads = {},
  }
  for i, thread in ipairs(threads) do
    out.threads[i] = thread:get("stats")
  end
  io.write("BENCH_JSON " .. encode(out) .. "\n")
end

return M
