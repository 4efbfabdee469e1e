-- api_screenings.lua — wrk script for POST /v1/screenings: a valid
-- screening per request, each with its own user id (run, wrk thread and
-- request number), the nine languages and five scores in turn.
-- Needs the environment: API_BENCH_TOKEN, API_BENCH_RUN.
local token = os.getenv("API_BENCH_TOKEN")
local run = os.getenv("API_BENCH_RUN") or "bench"
local langs = { "hi", "en", "bn", "te", "mr", "ta", "gu", "kn", "ml" }
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

function request()
	counter = counter + 1
	local body = string.format(
		'{"user_id":"%s-%d-%d","phone":"+9198%08d","lang":"%s",' ..
		'"pincode":"110001","score":%d,"channel":"whatsapp",' ..
		'"answers":{"brushes_twice_daily":true,"pain":"no"}}',
		run, tid, counter, counter % 100000000,
		langs[counter % 9 + 1], counter % 5 + 1)
	return wrk.format(nil, nil, nil, body)
end

-- API_BENCH_DEBUG=1: print the first answers that are not 2xx (slows
-- wrk down: it then reads every response body).
if os.getenv("API_BENCH_DEBUG") then
	local shown = 0

	function response(status, headers, body)
		if status >= 300 and shown < 3 then
			shown = shown + 1
			io.stderr:write(status .. " " .. body .. "\n")
		end
	end
end
