-- api_journey.lua — wrk script for POST /v1/journey: screening_step
-- events, each with its own user id; the API fills event_id and
-- occurred_at.  Needs the environment: API_BENCH_TOKEN, API_BENCH_RUN
-- (see api_common.lua).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or ""
local api = dofile(dir .. "api_common.lua")

api.post(function(run, tid, n)
	return string.format(
		'{"type":"screening_step","user_id":"%s-j%d-%d","step":%d,' ..
		'"channel":"whatsapp"}', run, tid, n, n % 7 + 1)
end)
