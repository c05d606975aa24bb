#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL for the store tests (Debian's PostgreSQL 15).
#
# Usage:
#   .ci/postgres.sh start        install (apt-get, when initdb is missing), create a cluster in a
#                                new temporary directory, start it on 127.0.0.1 on a free port
#   .ci/postgres.sh stop [DIR]   stop the cluster started in DIR (default: $PG_RUN_DIR), remove DIR
#
# Environment:
#   PG_RUN_DIR   stop: the directory `start` printed
#   PG_WAIT_S    seconds to wait for the server to accept connections (default 30)
#
# `start` prints KEY=VALUE lines on stdout (diagnostics go to stderr); split each line at the
# first "=":
#   PG_TEST_URL=postgres://msrp_test:<password>@127.0.0.1:<port>/msrp_test
#   PG_RUN_DIR=<dir>  PG_PORT=<port>  PG_LOG=<file>
# The cluster belongs to the `postgres` system user when run as root (PostgreSQL refuses to run
# as root); its unix socket is in <dir>, its TCP listener on 127.0.0.1 only.
# Exit codes: 2 usage, 3 install failed, 6 start failed.
set -euo pipefail

wait_s="${PG_WAIT_S:-30}"
marker=".msrp-bridge-postgres"

log() { echo "postgres.sh: $*" >&2; }

bin_dir() {
	local d
	for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
	done
	return 1
}

install_postgres() {
	command -v apt-get >/dev/null || { log "PostgreSQL is missing and there is no apt-get"; exit 3; }
	[ "$(id -u)" = 0 ] || { log "PostgreSQL is missing and installing it needs root"; exit 3; }
	log "installing postgresql with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1; then
		# package lists may be missing or stale: refresh once, then retry
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends postgresql >/dev/null
	fi
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_open() {
	# bash's /dev/tcp: succeeds once something accepts on the port
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
	local bin
	bin="$(bin_dir)" || { install_postgres; bin="$(bin_dir)"; } || {
		log "initdb not found after installing postgresql"
		exit 3
	}
	local dir
	dir="$(mktemp -d "${TMPDIR:-/tmp}/msrp-bridge-postgres.XXXXXX")"
	touch "$dir/$marker"
	if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir"; fi
	cd "$dir" # the owner must be able to read its working directory

	local password
	password="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" # 32 hex digits
	if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust \
		--auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync \
		>"$dir/initdb.log" 2>&1; then
		log "initdb failed:"
		tail -n 20 "$dir/initdb.log" >&2
		exit 6
	fi

	# A port that nothing listens on; a race with another process is caught by the retry.
	local port="" attempt
	for attempt in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 20000))
		if port_open "$port"; then continue; fi
		# Throw-away data: no fsync, no full-page writes.
		if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t "$wait_s" \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 \
				-c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
			start >/dev/null 2>&1; then
			break
		fi
		log "start on port $port failed (attempt $attempt)"
		port=""
	done
	if [ -z "$port" ]; then
		log "PostgreSQL did not start; last log lines:"
		tail -n 20 "$dir/postgres.log" >&2 2>/dev/null || true
		exit 6
	fi

	if ! as_owner "$bin/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 >/dev/null <<-SQL; then
		CREATE ROLE msrp_test LOGIN PASSWORD '$password';
		CREATE DATABASE msrp_test OWNER msrp_test;
	SQL
		log "creating the role and database failed"
		as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
		exit 6
	fi

	echo "PG_TEST_URL=postgres://msrp_test:$password@127.0.0.1:$port/msrp_test"
	echo "PG_RUN_DIR=$dir"
	echo "PG_PORT=$port"
	echo "PG_LOG=$dir/postgres.log"
}

stop() {
	local dir="${1:-${PG_RUN_DIR:-}}"
	[ -n "$dir" ] || { log "stop: no directory given and PG_RUN_DIR is not set"; exit 2; }
	if [ ! -f "$dir/$marker" ]; then
		log "stop: $dir is not a directory this script created (no $marker)"
		return 0
	fi
	local bin
	bin="$(bin_dir)" || { log "pg_ctl not found"; exit 3; }
	cd "$dir"
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t "$wait_s" stop >/dev/null 2>&1 ||
			as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	fi
	cd /
	rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*)
	echo "usage: $0 start | stop [DIR]" >&2
	exit 2
	;;
esac
