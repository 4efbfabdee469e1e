-- api_screenings.lua — wrk script for POST /v1/screenings: a valid
-- screening per request, each with its own user id (run, wrk thread and
-- request number), the nine languages and five scores in turn.
-- Needs the environment: API_BENCH_TOKEN, API_BENCH_RUN (see
-- api_common.lua).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or ""
local api = dofile(dir .. "api_common.lua")
local langs = { "hi", "en", "bn", "te", "mr", "ta", "gu", "kn", "ml" }

api.post(function(run, tid, n)
	return string.format(
		'{"user_id":"%s-%d-%d","phone":"+9198%08d","lang":"%s",' ..
		'"pincode":"110001","score":%d,"channel":"whatsapp",' ..
		'"answers":{"brushes_twice_daily":true,"pain":"no"}}',
		run, tid, n, n % 100000000, langs[n % 9 + 1], n % 5 + 1)
end)
