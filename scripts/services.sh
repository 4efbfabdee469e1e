#!/usr/bin/env bash
# services.sh — the real services Sluice runs against, on loopback, with
# fixed ports and all state under .services/ at the repository root.
#
#   scripts/services.sh start     start what is not running, wait until each
#                                 answers; print the export lines
#   scripts/services.sh stop      stop everything (also the 3-broker cluster)
#   scripts/services.sh status    say what runs; exit 0 only if all answer
#   scripts/services.sh env       print the export lines, start nothing
#   scripts/services.sh start-cluster   3-broker KRaft cluster (RF 3, min ISR
#                                 2); prints its bootstrap list
#   scripts/services.sh stop-cluster
#   scripts/services.sh kill-node N     SIGKILL cluster node N (1-3), for
#                                 failover tests; start-cluster restarts it
#
# Services and ports:
#   Kafka 4.4 (KRaft, single node)   127.0.0.1:19092 (controller 19093)
#   PostgreSQL 15                    127.0.0.1:15432, database `sluice`
#   PgBouncer 1.18 (transaction)     127.0.0.1:16432
#   ClickHouse 18.16                 HTTP 18123, TCP 19000, interserver 19009
#   Kafka 3-broker cluster           19192,19292,19392 (controllers +1)
#
# stdout carries only the export lines (or the cluster's bootstrap list), so
# `eval "$(scripts/services.sh start)"` works; progress goes to stderr.
# Started services outlive the calling shell.  Needs root: PostgreSQL and
# PgBouncer run as the postgres user, ClickHouse and Kafka as root.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SCRATCH=$SLUICE_ROOT/.services

KAFKA_PORT=19092
KAFKA_CPORT=19093
KAFKA_HEAP=768m
PG_PORT=15432
PGB_PORT=16432
CH_HTTP_PORT=18123
CH_TCP_PORT=19000
CH_INTER_PORT=19009
CLUSTER_PORTS=(19192 19292 19392)
CLUSTER_HEAP=512m

CH_CONFIG=/etc/clickhouse-server/config.xml

KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
PG_URL=postgresql://postgres@127.0.0.1:$PG_PORT/sluice
PGB_URL=postgresql://postgres@127.0.0.1:$PGB_PORT/sluice
CH_URL=http://127.0.0.1:$CH_HTTP_PORT

print_env()
{
	echo "export SLUICE_KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP"
	echo "export SLUICE_PG_URL=$PG_URL"
	echo "export SLUICE_PGBOUNCER_URL=$PGB_URL"
	echo "export SLUICE_CLICKHOUSE_URL=$CH_URL"
}

cluster_bootstrap()
{
	local p list=

	for p in "${CLUSTER_PORTS[@]}"; do
		list+=${list:+,}127.0.0.1:$p
	done
	echo "$list"
}

# lock_scratch: one services.sh at a time changes things.  The lock is fd 9,
# which the daemons must not inherit (see spawn, pg_start, pgb_start).
lock_scratch()
{
	mkdir -p "$SCRATCH"
	chmod 755 "$SCRATCH"
	exec 9>"$SCRATCH/.lock"
	flock 9
}

# ---------------------------------------------------------------- Kafka
# (kafka_answers, kafka_write_config, kafka_launch, cluster_id: lib.sh)

kafka_start()
{
	local dir=$SCRATCH/kafka

	if kafka_answers $KAFKA_PORT 1; then
		pid_alive "$dir/kafka.pid" ||
			say "kafka: $KAFKA_BOOTSTRAP answers (not started here)"
		return 0
	fi
	if pid_alive "$dir/kafka.pid"; then
		return 0	# starting: kafka_wait waits for it
	fi
	port_open $KAFKA_PORT && die "kafka: port $KAFKA_PORT is taken"
	port_open $KAFKA_CPORT && die "kafka: port $KAFKA_CPORT is taken"

	say "kafka: starting on $KAFKA_BOOTSTRAP"
	mkdir -p "$dir"
	kafka_write_config "$dir" 1 $KAFKA_PORT $KAFKA_CPORT \
		"1@127.0.0.1:$KAFKA_CPORT" 1 1
	kafka_launch "$dir" $KAFKA_HEAP "$(cluster_id "$dir/cluster.id")"
}

kafka_wait()
{
	local dir=$SCRATCH/kafka

	if ! wait_until 120 kafka_answers $KAFKA_PORT 1; then
		tail_log kafka "$dir/server.log"
		tail_log kafka "$dir/stdout.log"
		die "kafka: no answer on $KAFKA_BOOTSTRAP"
	fi
}

# ----------------------------------------------------------- PostgreSQL

# PostgreSQL and PgBouncer run as postgres, so their folder must be
# reachable by that user and the socket path short enough (107 bytes).  If
# the clone lives somewhere postgres cannot enter (or its path is long or has
# spaces), the folder goes to /tmp and .services/pg links to it.  Prints the
# real path: postgres may not be able to follow the link.
pg_home()
{
	local home=$SCRATCH/pg alt sum

	if [[ -L $home && ! -e $home ]]; then
		mkdir -p "$(readlink "$home")"	# /tmp was cleared
	fi
	if [[ ! -e $home ]]; then
		if [[ $home =~ [[:space:]] || ${#home} -gt 70 ]] ||
			! runuser -u postgres -- test -x "$SCRATCH"; then
			sum=$(printf %s "$SLUICE_ROOT" | cksum | cut -d' ' -f1)
			alt=/tmp/sluice-pg-$sum
			mkdir -p "$alt"
			ln -s "$alt" "$home"
		else
			mkdir -p "$home"
		fi
	fi
	home=$(readlink -f "$home")
	chown postgres:postgres "$home"
	chmod 700 "$home"
	echo "$home"
}

pg_answers()
{
	pg_isready -q -h 127.0.0.1 -p $PG_PORT -U postgres -t 2 2>/dev/null
}

pg_start()
{
	local home data log

	if pg_answers; then
		return 0
	fi
	port_open $PG_PORT && die "postgres: port $PG_PORT is taken"

	home=$(pg_home)
	data=$home/data
	log=$home/postgres.log
	if [[ ! -f $data/PG_VERSION ]]; then
		say "postgres: initdb in $data"
		as_pg rm -rf "$data"
		as_pg "$PG_BIN/initdb" --no-sync -A trust -E UTF8 \
			-U postgres -D "$data" >>"$home/initdb.log" 2>&1 || {
			tail_log postgres "$home/initdb.log"
			die "postgres: initdb failed"
		}
	fi
	as_pg mkdir -p "$home/sock"

	# A postmaster killed with -9 leaves its pid file; PostgreSQL takes a
	# zombie for a live server, so drop the file when its pid is gone.
	if [[ -f $data/postmaster.pid ]]; then
		head -n 1 "$data/postmaster.pid" >"$home/postmaster.pid.1"
		if ! pid_alive "$home/postmaster.pid.1"; then
			say "postgres: removing stale postmaster.pid"
			rm -f "$data/postmaster.pid"
		fi
		rm -f "$home/postmaster.pid.1"
	fi
	say "postgres: starting on 127.0.0.1:$PG_PORT"
	as_pg "$PG_BIN/pg_ctl" -w -t 60 -D "$data" -l "$log" \
		-o "-p $PG_PORT -k $home/sock -c listen_addresses=127.0.0.1" \
		-o "-c max_connections=200" start >/dev/null 9>&- || {
		tail_log postgres "$log"
		die "postgres: did not start"
	}
}

pg_create_db()
{
	local q="SELECT 1 FROM pg_database WHERE datname = 'sluice'"
	local url=postgresql://postgres@127.0.0.1:$PG_PORT/postgres

	wait_until 30 pg_answers || die "postgres: no answer on $PG_PORT"
	if [[ $(psql -X -q -tA "$url" -c "$q") != 1 ]]; then
		say "postgres: creating database sluice"
		psql -X -q "$url" -c "CREATE DATABASE sluice" >/dev/null
	fi
}

pg_stop()
{
	local data

	data=$(readlink -f "$SCRATCH/pg")/data

	if [[ -f $data/postmaster.pid ]]; then
		as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 30 \
			stop >/dev/null 2>&1 || {
			say "postgres: fast stop failed, immediate"
			as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate \
				stop >/dev/null 2>&1 || true
		}
	fi
}

# ------------------------------------------------------------ PgBouncer

pgb_answers()
{
	[[ $(psql -X -q -tA "$PGB_URL?connect_timeout=2" -c 'SELECT 1' \
		2>/dev/null) == 1 ]]
}

pgb_start()
{
	local dir

	if pgb_answers; then
		return 0
	fi
	dir=$(pg_home)/pgbouncer
	if pid_alive "$dir/pgbouncer.pid"; then
		wait_until 10 pgb_answers && return 0
		stop_pid pgbouncer "$dir/pgbouncer.pid" 10
	fi
	port_open $PGB_PORT && die "pgbouncer: port $PGB_PORT is taken"

	say "pgbouncer: starting on 127.0.0.1:$PGB_PORT"
	as_pg mkdir -p "$dir"
	as_pg tee "$dir/pgbouncer.ini" >/dev/null <<-EOF
	; Written by scripts/services.sh; rewritten on every start.
	[databases]
	* = host=127.0.0.1 port=$PG_PORT

	[pgbouncer]
	listen_addr = 127.0.0.1
	listen_port = $PGB_PORT
	unix_socket_dir = $(pg_home)/sock
	auth_type = trust
	auth_file = $dir/userlist.txt
	admin_users = postgres
	pool_mode = transaction
	max_client_conn = 1000
	default_pool_size = 40
	ignore_startup_parameters = extra_float_digits,options
	logfile = $dir/pgbouncer.log
	pidfile = $dir/pgbouncer.pid
	EOF
	as_pg tee "$dir/userlist.txt" >/dev/null <<<'"postgres" ""'

	# A log file left by a start as root makes pgbouncer exit 0 without
	# listening: make sure postgres owns it.
	touch "$dir/pgbouncer.log"
	chown postgres:postgres "$dir/pgbouncer.log"
	rm -f "$dir/pgbouncer.pid"
	as_pg pgbouncer -q -d "$dir/pgbouncer.ini" 9>&- || {
		tail_log pgbouncer "$dir/pgbouncer.log"
		die "pgbouncer: did not start"
	}
	if ! wait_until 20 pgb_answers; then
		tail_log pgbouncer "$dir/pgbouncer.log"
		die "pgbouncer: no answer on $PGB_PORT"
	fi
}

# ----------------------------------------------------------- ClickHouse

ch_answers()
{
	[[ $(curl -s -m 2 "$CH_URL/ping" 2>/dev/null) == Ok. ]]
}

ch_start()
{
	local dir=$SCRATCH/clickhouse

	if ch_answers; then
		return 0
	fi
	if pid_alive "$dir/clickhouse.pid"; then
		return 0	# starting: ch_wait waits for it
	fi
	port_open $CH_HTTP_PORT && die "clickhouse: port $CH_HTTP_PORT is taken"
	port_open $CH_TCP_PORT && die "clickhouse: port $CH_TCP_PORT is taken"

	say "clickhouse: starting on $CH_URL"
	mkdir -p "$dir"/{data,tmp,user_files,format_schemas}
	spawn "$dir/clickhouse.pid" "$dir/stdout.log" \
		clickhouse-server --config-file="$CH_CONFIG" -- \
		--path="$dir/data/" --tmp_path="$dir/tmp/" \
		--user_files_path="$dir/user_files/" \
		--format_schema_path="$dir/format_schemas/" \
		--logger.log="$dir/clickhouse.log" \
		--logger.errorlog="$dir/clickhouse.err.log" \
		--http_port=$CH_HTTP_PORT --tcp_port=$CH_TCP_PORT \
		--interserver_http_port=$CH_INTER_PORT \
		--listen_host=127.0.0.1 --timezone=UTC
}

ch_wait()
{
	local dir=$SCRATCH/clickhouse

	if ! wait_until 60 ch_answers; then
		tail_log clickhouse "$dir/clickhouse.err.log"
		tail_log clickhouse "$dir/stdout.log"
		die "clickhouse: no answer on $CH_URL"
	fi
}

# -------------------------------------------------------- 3-broker cluster

cluster_start()
{
	local base=$SCRATCH/cluster voters='' id i port dir all=1 pid pids=()

	for i in 1 2 3; do
		port=${CLUSTER_PORTS[i - 1]}
		voters+=${voters:+,}$i@127.0.0.1:$((port + 1))
	done
	mkdir -p "$base"
	id=$(cluster_id "$base/cluster.id")

	# Format and launch the missing nodes side by side (a format is a
	# JVM start of its own).
	for i in 1 2 3; do
		port=${CLUSTER_PORTS[i - 1]}
		dir=$base/node$i
		if pid_alive "$dir/kafka.pid"; then
			continue
		fi
		if port_open "$port"; then
			say "cluster: port $port answers (not started here)"
			continue
		fi
		all=0
		say "cluster: starting node $i on 127.0.0.1:$port"
		mkdir -p "$dir"
		kafka_write_config "$dir" "$i" "$port" $((port + 1)) \
			"$voters" 3 2
		kafka_launch "$dir" $CLUSTER_HEAP "$id" &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || die "cluster: a node did not start"
	done

	for i in 1 2 3; do
		port=${CLUSTER_PORTS[i - 1]}
		if ! wait_until 120 kafka_answers "$port" 3; then
			tail_log cluster "$base/node$i/server.log"
			die "cluster: node $i does not see 3 brokers"
		fi
	done
	((all)) || say "cluster: 3 brokers up"
	cluster_bootstrap
}

cluster_stop()
{
	local i pid

	# SIGTERM all at once: stopping one by one leaves the last nodes
	# without a controller quorum, waiting for it.
	for i in 3 2 1; do
		pid_alive "$SCRATCH/cluster/node$i/kafka.pid" || continue
		pid=$(<"$SCRATCH/cluster/node$i/kafka.pid")
		say "cluster: stopping node $i (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
	done
	for i in 3 2 1; do
		stop_pid "cluster node $i" "$SCRATCH/cluster/node$i/kafka.pid" 20
	done
}

cluster_kill()
{
	local pidfile=$SCRATCH/cluster/node$1/kafka.pid

	[[ $1 =~ ^[123]$ ]] || die "kill-node: node is 1, 2 or 3"
	pid_alive "$pidfile" || die "kill-node: node $1 is not running"
	kill -KILL "$(<"$pidfile")"
	wait_until 10 eval "! pid_alive '$pidfile'" ||
		die "kill-node: node $1 survived SIGKILL"
	rm -f "$pidfile"
	say "cluster: node $1 killed"
}

# ------------------------------------------------------------- commands

cmd_start()
{
	lock_scratch
	"$SLUICE_ROOT/scripts/kafka.sh"

	# Kafka and ClickHouse boot in the background while PostgreSQL and
	# PgBouncer start; then wait for both.
	kafka_start
	ch_start
	pg_start
	pg_create_db
	pgb_start
	ch_wait
	kafka_wait
	print_env
}

cmd_stop()
{
	local pid f

	lock_scratch

	# SIGTERM the background ones first so they shut down together.
	for f in kafka/kafka.pid clickhouse/clickhouse.pid; do
		pid_alive "$SCRATCH/$f" || continue
		pid=$(<"$SCRATCH/$f")
		say "stopping ${f%%/*} (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
	done
	if [[ -e $SCRATCH/pg ]]; then
		if pid_alive "$SCRATCH/pg/pgbouncer/pgbouncer.pid"; then
			say "stopping pgbouncer"
		fi
		stop_pid pgbouncer "$SCRATCH/pg/pgbouncer/pgbouncer.pid" 10
		if [[ -f $SCRATCH/pg/data/postmaster.pid ]]; then
			say "stopping postgres"
		fi
		pg_stop
	fi
	stop_pid clickhouse "$SCRATCH/clickhouse/clickhouse.pid" 30
	stop_pid kafka "$SCRATCH/kafka/kafka.pid" 60
	cluster_stop
}

# status_line NAME ANSWERS WHERE
status_line()
{
	printf '%-11s %-5s %s\n' "$1" "$2" "$3"
}

cmd_status()
{
	local rc=0 up

	for svc in kafka pg pgb ch; do
		case $svc in
		kafka) kafka_answers $KAFKA_PORT 1 && up=up || up=down
			status_line kafka $up "$KAFKA_BOOTSTRAP" ;;
		pg) pg_answers && up=up || up=down
			status_line postgres $up "$PG_URL" ;;
		pgb) pgb_answers && up=up || up=down
			status_line pgbouncer $up "$PGB_URL" ;;
		ch) ch_answers && up=up || up=down
			status_line clickhouse $up "$CH_URL" ;;
		esac
		[[ $up == up ]] || rc=3
	done
	if kafka_answers "${CLUSTER_PORTS[0]}" 1; then
		status_line cluster up "$(cluster_bootstrap)"
	fi
	return $rc
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) print_env ;;
start-cluster) lock_scratch; cluster_start ;;
stop-cluster) lock_scratch; cluster_stop ;;
kill-node) cluster_kill "${2:-}" ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
