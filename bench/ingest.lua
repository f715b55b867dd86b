-- wrk script for bench/ingest.py: each request is the next pre-signed body
-- from the file given after "--" (one "signature<TAB>body" per line); each
-- wrk thread takes every n-th line, so no two requests send the same event.
-- The third argument is how many of its lines each thread skips: the lines
-- earlier runs against the same target (the warm-up) already sent.
local counter = 1
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2])
  local skip = tonumber(args[3] or "0")
  requests, index = {}, 1
  local line_number = 0
  for line in io.lines(args[1]) do
    if line_number % nthreads == id - 1 then
      local tab = line:find("\t", 1, true)
      local headers = {}
      headers["Content-Type"] = "application/json"
      headers["X-Signature-256"] = line:sub(1, tab - 1)
      requests[#requests + 1] = wrk.format("POST", nil, headers, line:sub(tab + 1))
    end
    line_number = line_number + 1
  end
  index = skip % #requests + 1
end

function request()
  local r = requests[index]
  index = index % #requests + 1
  return r
end
