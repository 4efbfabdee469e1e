-- api_common.lua — what the wrk scripts of api_bench.sh share; each loads
-- it with dofile from its own folder:
--
--   local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or ""
--   local api = dofile(dir .. "api_common.lua")
--   api.post(function(run, tid, n) return <JSON body> end)
--
-- It defines wrk's setup and init (a number per wrk thread, tid, from 1;
-- POST, JSON, the bearer token of API_BENCH_TOKEN), and with
-- API_BENCH_DEBUG=1 a response function that prints the first answers
-- that are not 2xx (slows wrk down: it then reads every response body).
-- api.post(body) makes every request a POST of body(run, tid, n): run is
-- API_BENCH_RUN ("bench" when unset), n counts the thread's requests
-- from 1.
local api = {}
local token = os.getenv("API_BENCH_TOKEN")
local run = os.getenv("API_BENCH_RUN") or "bench"
local counter = 0
local tid = 0
local threads = {}

function setup(thread)
	thread:set("tid", #threads + 1)
	table.insert(threads, thread)
end

function init(args)
	tid = tonumber(wrk.thread:get("tid")) or 0
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
	wrk.headers["Authorization"] = "Bearer " .. token
end

function api.post(body)
	function request()
		counter = counter + 1
		return wrk.format(nil, nil, nil, body(run, tid, counter))
	end
end

if os.getenv("API_BENCH_DEBUG") then
	local shown = 0

	function response(status, headers, body)
		if status >= 300 and shown < 3 then
			shown = shown + 1
			io.stderr:write(status .. " " .. body .. "\n")
		end
	end
end

return api
