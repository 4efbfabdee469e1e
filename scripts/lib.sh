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

# tail_log NAME FILE: the last 30 lines of a log on stderr, to explain a
# failure (nothing when FILE is empty or missing).
tail_log()
{
	if [[ -s $2 ]]; then
		say "--- last lines of $2"
		tail -n 30 "$2" >&2
	fi
}

# first_free_port FROM: the first port at or above FROM that nothing on
# 127.0.0.1 listens on; false when there is none up to 65535.
first_free_port()
{
	local p=$1

	while port_open "$p"; do
		((p < 65535)) || return 1
		p=$((p + 1))
	done
	echo "$p"
}

# kill_wait SIGNAL PID...: send SIGNAL (TERM, KILL, ...) to each PID, then
# wait for each; for children of the calling shell.  Errors (a process
# already gone, an empty list) are ignored.
kill_wait()
{
	local sig=$1 p

	shift
	for p in "$@"; do
		kill -"$sig" "$p" 2>/dev/null || true
	done
	for p in "$@"; do
		wait "$p" 2>/dev/null || true
	done
}

# admin_ready PORT: true when a worker's admin API on 127.0.0.1:PORT
# answers GET /readyz with a success.
admin_ready()
{
	curl -sf "127.0.0.1:$1/readyz" >/dev/null
}

# produce_keyed BOOTSTRAP TOPIC FILE: FILE's "key|value" lines as records
# of TOPIC, partitioned by key with librdkafka's murmur2 (as the API and
# the Java clients do).
produce_keyed()
{
	kcat -b "$1" -P -t "$2" -K'|' -X partitioner=murmur2_random -l "$3"
}

# ------------------------------------------------------- for the tests

# fail MSG...: "FAIL: MSG" on stderr, then the end of FAIL_LOG when it is
# set and not empty (a test points it at the log that would explain a
# failure), then exit 1.
fail()
{
	say "FAIL: $*"
	if [[ -n ${FAIL_LOG:-} ]]; then
		tail_log test "$FAIL_LOG"
	fi
	exit 1
}

# ok MSG...: "ok: MSG" on stderr, one passed check.
ok()
{
	say "ok: $*"
}

# random_free_port: a port in 25000-29999 that nothing listens on, nor on
# the next one (a broker's controller port); 50 draws, false when none.
random_free_port()
{
	local p

	for _ in $(seq 1 50); do
		p=$((25000 + RANDOM % 5000))
		if ! port_open "$p" && ! port_open $((p + 1)); then
			echo "$p"
			return 0
		fi
	done
	return 1
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
	wait_until 60 ch_private_answers && return 0
	tail_log clickhouse "$d/err.log"
	return 1
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

# ----------------------------------------------------------------- Kafka

# kafka_brokers BOOTSTRAP: how many brokers the cluster's metadata lists
# (empty when it does not answer).
kafka_brokers()
{
	kcat -L -b "$1" -m 3 2>/dev/null |
		sed -n 's/^ *\([0-9][0-9]*\) brokers:$/\1/p' || true
}

# kafka_answers PORT WANT: the broker on PORT answers metadata requests and
# lists at least WANT brokers.
kafka_answers()
{
	local n

	port_open "$1" || return 1
	n=$(kafka_brokers "127.0.0.1:$1")
	[[ -n $n ]] && ((n >= $2))
}

# kafka_write_config DIR NODE PORT CPORT VOTERS RF MINISR [LEVEL]: write
# DIR/server.properties and DIR/log4j2.properties for KRaft node NODE
# (broker and controller) on 127.0.0.1:PORT, controller CPORT, quorum
# VOTERS ("1@127.0.0.1:CPORT,..."), replication factor RF and min ISR
# MINISR for new and internal topics, data in DIR/data, its log in
# DIR/server.log (root level LEVEL, default INFO).
kafka_write_config()
{
	local dir=$1 node=$2 port=$3 cport=$4 voters=$5 rf=$6 minisr=$7
	local level=${8:-INFO}

	cat >"$dir/server.properties" <<-EOF
	# Written by kafka_write_config (scripts/lib.sh) on every start.
	process.roles=broker,controller
	node.id=$node
	controller.quorum.voters=$voters
	listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
	advertised.listeners=PLAINTEXT://127.0.0.1:$port
	controller.listener.names=CONTROLLER
	inter.broker.listener.name=PLAINTEXT
	listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
	log.dirs=$dir/data
	num.partitions=1
	default.replication.factor=$rf
	min.insync.replicas=$minisr
	offsets.topic.replication.factor=$rf
	offsets.topic.num.partitions=10
	transaction.state.log.replication.factor=$rf
	transaction.state.log.min.isr=$minisr
	transaction.state.log.num.partitions=10
	share.coordinator.state.topic.replication.factor=$rf
	share.coordinator.state.topic.min.isr=$minisr
	group.initial.rebalance.delay.ms=0
	# Abort a dead producer's transaction within a second of its
	# timeout (default 10 s), so read_committed readers move on.
	transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
	auto.create.topics.enable=false
	EOF

	cat >"$dir/log4j2.properties" <<-EOF
	status = warn
	shutdownHook = disable
	appender.file.type = RollingFile
	appender.file.name = file
	appender.file.fileName = $dir/server.log
	appender.file.filePattern = $dir/server.log.%i
	appender.file.policies.type = Policies
	appender.file.policies.size.type = SizeBasedTriggeringPolicy
	appender.file.policies.size.size = 50MB
	appender.file.strategy.type = DefaultRolloverStrategy
	appender.file.strategy.max = 2
	appender.file.layout.type = PatternLayout
	appender.file.layout.pattern = [%d] %p %m (%c)%n
	rootLogger.level = $level
	rootLogger.appenderRef.file.ref = file
	logger.request.name = kafka.request.logger
	logger.request.level = WARN
	logger.state.name = state.change.logger
	logger.state.level = WARN
	EOF
}

# kafka_launch DIR HEAP CLUSTER_ID: format the storage (DIR/data) once, then
# start the broker of kafka_write_config's DIR in the background, detached
# (spawn); its pid goes to DIR/kafka.pid.  Dies when the format fails.
kafka_launch()
{
	local dir=$1 heap=$2 id=$3 libs
	local jvm=(java "-Xms$heap" "-Xmx$heap" -XX:+UseG1GC
		-XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
		-Djava.awt.headless=true
		"-Dlog4j2.configurationFile=$dir/log4j2.properties"
		"-Dkafka.logs.dir=$dir")

	libs=$("$SLUICE_ROOT/scripts/kafka.sh" libs)
	if [[ ! -f $dir/data/meta.properties ]]; then
		rm -rf "$dir/data"
		"${jvm[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
			-t "$id" -c "$dir/server.properties" \
			>>"$dir/stdout.log" 2>&1 || {
			tail_log kafka "$dir/stdout.log"
			die "kafka: could not format $dir/data"
		}
	fi
	spawn "$dir/kafka.pid" "$dir/stdout.log" \
		"${jvm[@]}" -cp "$libs/*" kafka.Kafka "$dir/server.properties"
}

# cluster_id FILE: a random Kafka cluster id (base64url of 16 bytes), made
# once and kept in FILE.
cluster_id()
{
	local id

	if [[ ! -s $1 ]]; then
		id=-
		while [[ $id == -* ]]; do
			id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' |
				tr -d '=')
		done
		echo "$id" >"$1"
	fi
	cat "$1"
}

# kafka_private_start DIR PORT HEAP [LEVEL]: a single-node KRaft broker of
# the caller's own (not the shared one of services.sh) on 127.0.0.1:PORT,
# controller PORT + 1, with a JVM heap of HEAP and its log at LEVEL
# (default INFO).  All of it lives in DIR (made if missing): the config
# (rewritten each time), the data (formatted on the first start, with a
# cluster id kept in DIR/cluster.id; a later start on the same DIR finds
# its topics again), server.log, stdout.log and kafka.pid.  Waits up to
# 120 s for it to answer; false when it does not (the logs' ends on
# stderr).  Stop it with stop_pid NAME DIR/kafka.pid.
kafka_private_start()
{
	local dir=$1 port=$2

	mkdir -p "$dir"
	kafka_write_config "$dir" 1 "$port" $((port + 1)) \
		"1@127.0.0.1:$((port + 1))" 1 1 "${4:-INFO}"
	kafka_launch "$dir" "$3" "$(cluster_id "$dir/cluster.id")"
	wait_until 120 kafka_answers "$port" 1 && return 0
	tail_log kafka "$dir/server.log"
	tail_log kafka "$dir/stdout.log"
	return 1
}

# ---------------------------------------------------------- PostgreSQL

PG_BIN=/usr/lib/postgresql/15/bin

# as_pg CMD...: run CMD as postgres, from / (it may not enter the cwd).
as_pg()
{
	(cd / && runuser -u postgres -- "$@")
}

# pg_private_init DIR: a PostgreSQL 15 cluster of the caller's own (not the
# shared one of services.sh) in DIR/data: DIR is made, given to postgres
# (mode 700) and its parent made enterable (chmod 755: a mktemp -d folder
# is 700); initdb as postgres, trust authentication, UTF8, its output in
# DIR/initdb.log.  False when initdb fails (the log's end on stderr).
pg_private_init()
{
	local d=$1

	mkdir -p "$d"
	chown postgres:postgres "$d"
	chmod 700 "$d"
	chmod 755 "$(dirname "$d")"
	as_pg "$PG_BIN/initdb" --no-sync -A trust -E UTF8 -U postgres \
		-D "$d/data" >"$d/initdb.log" 2>&1 && return 0
	tail_log postgres "$d/initdb.log"
	return 1
}

# pg_private_start DIR PORT [PG_CTL_ARG...]: start pg_private_init's
# cluster on 127.0.0.1:PORT (socket in DIR, log DIR/pg.log, fsync off, 50
# connections; more server settings as PG_CTL_ARGs, -o "-c name=value")
# and wait up to 60 s for it.  False when it does not start.
pg_private_start()
{
	local d=$1 port=$2

	shift 2
	as_pg "$PG_BIN/pg_ctl" -w -t 60 -D "$d/data" -l "$d/pg.log" \
		-o "-p $port -k $d -c listen_addresses=127.0.0.1" \
		-o "-c fsync=off -c max_connections=50" "$@" \
		start >/dev/null 9>&- && return 0
	tail_log postgres "$d/pg.log"
	return 1
}

# pg_private_stop DIR [MODE]: stop pg_private_start's server (pg_ctl -m
# MODE, default fast) and wait for it; pg_ctl's status.  Nothing to do,
# true, when DIR/data has no postmaster.pid.
pg_private_stop()
{
	[[ -f $1/data/postmaster.pid ]] || return 0
	as_pg "$PG_BIN/pg_ctl" -D "$1/data" -m "${2:-fast}" -w stop >/dev/null
}

# ------------------------------------------------------------ sluice api

# sluice_api_start LOG [VAR=value...]: `sluice api` (SLUICE_BIN, default
# ./sluice of the repository) in the background, a child of the calling
# shell, on a free port (SLUICE_API_LISTEN=127.0.0.1:0) with
# SLUICE_LOG_LEVEL=info and then VAR=value... on top of the environment;
# stdout and stderr to LOG (emptied first).  Waits up to 20 s for its
# "listening" line; sets API_PID and API_URL (http://127.0.0.1:PORT).
# False when it does not listen by then (API_PID is set all the same).
sluice_api_start()
{
	local log=$1 port

	shift
	: >"$log"
	env SLUICE_API_LISTEN=127.0.0.1:0 SLUICE_LOG_LEVEL=info "$@" \
		"${SLUICE_BIN:-$SLUICE_ROOT/sluice}" api >>"$log" 2>&1 &
	API_PID=$!
	API_URL=
	wait_until 20 grep -q ' listening ' "$log" || return 1
	port=$(sed -n 's/.* listening .*port=\([0-9]*\).*/\1/p' "$log" |
		head -n 1)
	API_URL=http://127.0.0.1:$port
}

# sluice_api_stop: SIGTERM the API of sluice_api_start and wait for it;
# its exit status (0 for a clean shutdown).  Clears API_PID; true when it
# is empty.
sluice_api_stop()
{
	local pid=${API_PID:-} rc=0

	[[ -n $pid ]] || return 0
	API_PID=
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	return $rc
}
