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
