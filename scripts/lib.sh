# lib.sh — shared helpers for the scripts in this folder.  Source it:
#   . "$(dirname "$0")/lib.sh"
# It sets SLUICE_ROOT (the repository root, found from this file, so the
# scripts work from any clone and any working directory).  Progress and
# errors go to stderr; stdout is left to the calling script.

# shellcheck disable=SC2034  # used by the scripts that source this
SLUICE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# say MSG...: one progress line on stderr.
say()
{
	printf '%s\n' "$*" >&2
}

# die MSG...: an error line on stderr, then exit 1.
die()
{
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# now_ms: milliseconds since the epoch.
now_ms()
{
	local t

	t=$(date +%s%N)
	echo $((t / 1000000))
}

# port_open PORT: true when something accepts TCP on 127.0.0.1:PORT.
port_open()
{
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_until SECONDS CMD...: run CMD every 0.1 s until it succeeds (true)
# or SECONDS have passed (false).
wait_until()
{
	local limit=$(($(now_ms) + $1 * 1000))

	shift
	while ! "$@"; do
		if (($(now_ms) >= limit)); then
			return 1
		fi
		sleep 0.1
	done
}

# pid_alive PIDFILE: true when PIDFILE names a live process (not a zombie).
pid_alive()
{
	local pid stat

	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# /proc/PID/stat: "pid (comm) S ..."; S is the state, Z a zombie.
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ $stat != Z* ]]
}

# spawn PIDFILE LOGFILE CMD...: start CMD in its own session, detached from
# the calling shell (it survives the shell exiting), stdin from /dev/null,
# stdout and stderr appended to LOGFILE; its pid goes to PIDFILE.  File
# descriptor 9 (the scripts' lock) is not passed on.
spawn()
{
	local pidfile=$1 logfile=$2

	shift 2
	rm -f "$pidfile"
	setsid -f bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
		</dev/null >>"$logfile" 2>&1 9>&-
	wait_until 5 test -s "$pidfile" || die "could not start $1"
}

# stop_pid NAME PIDFILE [SECONDS]: SIGTERM the process in PIDFILE, wait up
# to SECONDS (default 30) for it to exit, then SIGKILL it.  Idempotent.
stop_pid()
{
	local name=$1 pidfile=$2 secs=${3:-30} pid

	if ! pid_alive "$pidfile"; then
		rm -f "$pidfile"
		return 0
	fi
	pid=$(<"$pidfile")
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_until "$secs" eval "! pid_alive '$pidfile'"; then
		say "$name: did not stop in ${secs}s, killing pid $pid"
		kill -KILL "$pid" 2>/dev/null || true
		wait_until 5 eval "! pid_alive '$pidfile'" || true
	fi
	rm -f "$pidfile"
}

# ------------------------------------------- a private ClickHouse for tests

# ch_private_free HTTP TCP INTER: true when clickhouse-server is installed
# and none of the three ports is taken, so ch_private_start can use them.
ch_private_free()
{
	command -v clickhouse-server >/dev/null || return 1
	! port_open "$1" && ! port_open "$2" && ! port_open "$3"
}

# ch_private_answers: true when the server of ch_private_start answers.
ch_private_answers()
{
	[[ $(curl -s -m 2 "$CH_PRIVATE_URL/ping" 2>/dev/null) == Ok. ]]
}

# ch_private_start DIR HTTP TCP INTER: start a ClickHouse server of the
# caller's own, a child of the calling shell (not the shared one of
# services.sh), with its data and logs in DIR (made if missing; kept, so a
# second start finds the same tables) and listening on 127.0.0.1 at the
# HTTP, native TCP and interserver ports.  Sets CH_PRIVATE_PID to its pid
# and CH_PRIVATE_URL to http://127.0.0.1:HTTP; waits up to 60 s for /ping.
# False when it does not answer by then (CH_PRIVATE_PID stays set, for
# ch_private_stop).
ch_private_start()
{
	local d=$1

	mkdir -p "$d"/{data,tmp,uf,fs}
	CH_PRIVATE_URL=http://127.0.0.1:$2
	setsid clickhouse-server \
		--config-file=/etc/clickhouse-server/config.xml \
		-- --path="$d/data/" --tmp_path="$d/tmp/" \
		--user_files_path="$d/uf/" --format_schema_path="$d/fs/" \
		--logger.log="$d/server.log" --logger.errorlog="$d/err.log" \
		--http_port="$2" --tcp_port="$3" \
		--interserver_http_port="$4" --listen_host=127.0.0.1 \
		</dev/null >>"$d/stdout.log" 2>&1 &
	CH_PRIVATE_PID=$!
	wait_until 60 ch_private_answers
}

# ch_private_stop [SECONDS]: SIGTERM the server of ch_private_start and wait
# up to SECONDS (default 60) for it to exit; false if it is still there.
# Clears CH_PRIVATE_PID; does nothing when it is empty.
ch_private_stop()
{
	local pid=${CH_PRIVATE_PID:-}

	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait_until "${1:-60}" eval "! kill -0 $pid 2>/dev/null" || return 1
	CH_PRIVATE_PID=
}
