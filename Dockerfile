# Sluice images for docker-compose.yml.  Debian 12 throughout, so the
# libraries and the PgBouncer and ClickHouse versions are the ones the tests
# run against (librdkafka 2.0.2, PgBouncer 1.18, ClickHouse 18.16).
#
#   docker build -t sluice .                      the sluice binary (runtime)
#   docker build --target pgbouncer -t sluice-pgbouncer .
#   docker build --target clickhouse -t sluice-clickhouse .

# ---- build: the -dev packages and `make sluice`.
FROM debian:12-slim AS build
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		build-essential pkg-config librdkafka-dev liblmdb-dev \
		libpq-dev libcjson-dev libcurl4-openssl-dev \
		libmicrohttpd-dev libssl-dev \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only the sources: the checkout's caches and service data stay out.
COPY Makefile main.c ./
COPY processor processor
COPY state state
COPY topologies topologies
COPY connectors connectors
COPY api api
RUN make -j"$(nproc)" sluice

# ---- pgbouncer: Debian's PgBouncer in transaction mode in front of the
# `postgres` service.  Trust auth: a development stack on a private network.
FROM debian:12-slim AS pgbouncer
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		pgbouncer postgresql-client \
	&& rm -rf /var/lib/apt/lists/* \
	&& printf '%s\n' \
		'[databases]' \
		'* = host=postgres port=5432' \
		'[pgbouncer]' \
		'listen_addr = 0.0.0.0' \
		'listen_port = 6432' \
		'unix_socket_dir =' \
		'auth_type = trust' \
		'auth_file = /etc/pgbouncer/userlist.txt' \
		'admin_users = postgres' \
		'pool_mode = transaction' \
		'max_client_conn = 1000' \
		'default_pool_size = 40' \
		'ignore_startup_parameters = extra_float_digits,options' \
		>/etc/pgbouncer/pgbouncer.ini \
	&& printf '"postgres" ""\n' >/etc/pgbouncer/userlist.txt \
	&& chown -R postgres:postgres /etc/pgbouncer
USER postgres
EXPOSE 6432
CMD ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]

# ---- clickhouse: Debian's ClickHouse 18.16, stock config, all interfaces.
FROM debian:12-slim AS clickhouse
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		clickhouse-server clickhouse-client curl tzdata \
	&& rm -rf /var/lib/apt/lists/*
EXPOSE 8123 9000
CMD ["clickhouse-server", "--config-file=/etc/clickhouse-server/config.xml", \
	"--", "--listen_host=0.0.0.0", "--timezone=UTC"]

# ---- runtime (the default target): the sluice binary and its libraries.
FROM debian:12-slim AS runtime
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		librdkafka1 liblmdb0 libpq5 libcjson1 libcurl4 \
		libmicrohttpd12 libssl3 ca-certificates curl tzdata \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --create-home --home-dir /var/lib/sluice sluice
COPY --from=build /src/sluice /usr/local/bin/sluice
USER sluice
WORKDIR /var/lib/sluice
ENV SLUICE_STATE_DIR=/var/lib/sluice/state \
	SLUICE_DRY_RUN_DIR=/var/lib/sluice/dry-run \
	SLUICE_API_LISTEN=0.0.0.0:8080 \
	SLUICE_ADMIN_LISTEN=0.0.0.0:8081
EXPOSE 8080 8081
ENTRYPOINT ["sluice"]
CMD ["--help"]
