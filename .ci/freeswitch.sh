#!/usr/bin/env bash
# Start or stop the real FreeSWITCH test package (shared/freeswitch, beside the repository clone).
#
# Usage:
#   .ci/freeswitch.sh start        install (apt libraries if missing + unpack), start, wait for ESL
#   .ci/freeswitch.sh stop [DIR]   stop the FreeSWITCH started in DIR (default: $FS_RUN_DIR)
#
# Environment:
#   FS_RUN_DIR   where the package is unpacked (default: ${TMPDIR:-/tmp}/msrp-bridge-freeswitch)
#   FS_PACKAGE   the package directory (default: <repo>/../shared/freeswitch)
#   FS_WAIT_S    seconds to wait for ESL to answer (default 30)
#
# `start` prints KEY=VALUE lines on stdout (diagnostics go to stderr); split each line at the
# first "=":
#   ESL_HOST=127.0.0.1  ESL_PORT=8021  ESL_PASSWORD=ClueCon
#   FS_SIP_URI=sip:127.0.0.1:5080  FS_WS_URI=ws://127.0.0.1:5066
#   FS_PID=<pid>  FS_PID_FILE=<file>  FS_LOG=<file>  FS_DIR=<tree>  FS_RUN_DIR=<dir>
#   FS_START_SECONDS=<install + start time>
# Exit codes: 2 usage, 3 install failed, 4 already running, 5 a port is taken, 6 start failed,
# 7 ESL did not answer in time.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
package="${FS_PACKAGE:-$here/../../shared/freeswitch}"
run_dir="${FS_RUN_DIR:-${TMPDIR:-/tmp}/msrp-bridge-freeswitch}"
wait_s="${FS_WAIT_S:-30}"
esl_host=127.0.0.1
esl_port=8021

log() { echo "freeswitch.sh: $*" >&2; }

port_open() {
	# bash's /dev/tcp: succeeds once something accepts on the port
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Answers 0 when ESL greets with auth/request, accepts ClueCon and reports "is ready".
esl_ready() {
	local reply
	reply="$(
		{
			exec 3<>"/dev/tcp/$esl_host/$esl_port" || exit 1
			printf 'auth ClueCon\n\napi status\n\nexit\n\n' >&3
			timeout 2 cat <&3 || true
		} 2>/dev/null
	)" || return 1
	grep -q "+OK accepted" <<<"$reply" && grep -q "is ready" <<<"$reply"
}

start() {
	local pid_file="$run_dir/freeswitch.pid" started=$EPOCHREALTIME
	if [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
		log "FreeSWITCH already runs with pid $(cat "$pid_file") (pid file $pid_file)"
		exit 4
	fi
	for port in 8021 5080 5066; do
		if port_open 127.0.0.1 "$port"; then
			log "something already listens on 127.0.0.1:$port"
			exit 5
		fi
	done
	[ -x "$package/install.sh" ] || { log "no package at $package"; exit 3; }

	mkdir -p "$run_dir"
	run_dir="$(cd "$run_dir" && pwd)"
	# FreeSWITCH creates its DTLS/WSS certificates on first start (about 4 s): keep them across runs.
	if [ -d "$run_dir/fs-min/cert" ]; then
		rm -rf "$run_dir/cert"
		mv "$run_dir/fs-min/cert" "$run_dir/cert"
	fi
	rm -rf "$run_dir/fs-min"
	local fs_dir
	# install.sh calls apt-get only when a runtime library is missing (that needs root).
	fs_dir="$("$package/install.sh" "$run_dir" | sed -n 's/^FS_DIR=//p')" || {
		log "install failed (missing libraries need root for apt-get)"
		exit 3
	}
	[ -x "$fs_dir/bin/freeswitch" ] || { log "install produced no $fs_dir/bin/freeswitch"; exit 3; }
	if [ -d "$run_dir/cert" ]; then mv "$run_dir/cert" "$fs_dir/cert"; fi

	local log_file="$fs_dir/log/freeswitch.log"
	mkdir -p "$fs_dir/log" "$fs_dir/db" "$fs_dir/run" "$fs_dir/cache" "$fs_dir/storage" \
		"$fs_dir/recordings"
	# -nc -nf: no console, no fork, so $! is FreeSWITCH itself.
	"$fs_dir/bin/freeswitch" -base "$fs_dir" -nonat -nc -nf \
		>"$fs_dir/log/stdout.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$pid_file"

	local deadline=$((SECONDS + wait_s))
	until esl_ready; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "freeswitch exited; last log lines:"
			tail -n 30 "$fs_dir/log/stdout.log" "$log_file" >&2 2>/dev/null || true
			rm -f "$pid_file"
			exit 6
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "ESL $esl_host:$esl_port did not answer within ${wait_s}s"
			kill "$pid" 2>/dev/null || true
			rm -f "$pid_file"
			exit 7
		fi
		sleep 0.2
	done

	echo "ESL_HOST=$esl_host"
	echo "ESL_PORT=$esl_port"
	echo "ESL_PASSWORD=ClueCon"
	echo "FS_SIP_URI=sip:127.0.0.1:5080"
	echo "FS_WS_URI=ws://127.0.0.1:5066"
	echo "FS_PID=$pid"
	echo "FS_PID_FILE=$pid_file"
	echo "FS_LOG=$log_file"
	echo "FS_DIR=$fs_dir"
	echo "FS_RUN_DIR=$run_dir"
	echo "FS_START_SECONDS=$(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $started }")"
}

stop() {
	local dir="${1:-$run_dir}"
	local pid_file="$dir/freeswitch.pid"
	if [ ! -s "$pid_file" ]; then
		log "no pid file at $pid_file (already stopped?)"
		return 0
	fi
	local pid
	pid="$(tr -dc '0-9' <"$pid_file")"
	if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
		log "pid ${pid:-?} is not running"
		rm -f "$pid_file"
		return 0
	fi
	kill -TERM "$pid"
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid still alive after 10s, sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pid_file"
	log "stopped pid $pid"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*)
	echo "usage: $0 start | stop [RUN_DIR]" >&2
	exit 2
	;;
esac
