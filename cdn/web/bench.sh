#!/usr/bin/env bash
# Benchmarks of the proxy's cache, each next to Squid in the same run:
#  1. conformance: the http-cache-tests suite (npm) against the cache as a
#     reverse proxy (cachebench reverse) and against Squid in accel mode;
#  2. hit path: wrk, a 10 KB object, 32 connections, through the forward
#     proxy (cachebench forward, the code the node runs) and through Squid,
#     RUNS runs each, alternating, median and range of requests per second.
# Needs: go, node/npm, squid, wrk, curl (Debian: nodejs npm squid wrk curl).
#   cdn/web/bench.sh            # everything
#   RUNS=3 SECONDS_PER_RUN=5 cdn/web/bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
BASE_PORT=${BASE_PORT:-28100}
SUITE_VERSION=0.4.5
WORK=$(mktemp -d /tmp/shoal-webbench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for f in "$WORK"/squid-*/squid.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
	sleep 1
	rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() { # wait_port PORT: until something answers HTTP there (10 s)
	for _ in $(seq 100); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	echo "nothing answers on port $1" >&2
	return 1
}

squid_conf() { # squid_conf NAME LINES...: a loopback Squid in $WORK/squid-NAME
	local dir="$WORK/squid-$1"
	shift
	mkdir -p "$dir"
	{
		printf '%s\n' "$@"
		cat <<EOF
cache_mem 64 MB
maximum_object_size_in_memory 1 MB
pid_filename $dir/squid.pid
cache_log $dir/cache.log
access_log none
coredump_dir $dir
shutdown_lifetime 1 second
EOF
	} >"$dir/squid.conf"
	chown -R proxy:proxy "$dir" 2>/dev/null || true
	squid -z -f "$dir/squid.conf" -N >/dev/null 2>&1
	squid -f "$dir/squid.conf"
}

SUITE_PORT=$BASE_PORT REV_PORT=$((BASE_PORT + 1)) SQUID_REV_PORT=$((BASE_PORT + 2))
ORIGIN_PORT=$((BASE_PORT + 10)) FWD_PORT=$((BASE_PORT + 11)) SQUID_FWD_PORT=$((BASE_PORT + 12))

go build -tags migrated_fynedo -o "$WORK/cachebench" ./cdn/web/internal/cachebench
echo "squid: $(squid -v | head -1)"
echo "wrk:   $(wrk -v 2>&1 | head -1)"
echo "cpu:   $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. Conformance.
npm install --silent --prefix "$WORK/suite" "http-cache-tests@$SUITE_VERSION" >/dev/null 2>&1
SUITE="$WORK/suite/node_modules/http-cache-tests"
(cd "$SUITE" && npm_config_protocol=http npm_config_port=$SUITE_PORT npm_config_pidfile="$WORK/suite.pid" \
	exec node server/server.mjs >"$WORK/suite.log" 2>&1) &
PIDS+=($!)
mkdir -p "$WORK/rev"
"$WORK/cachebench" reverse -listen "127.0.0.1:$REV_PORT" -origin "http://localhost:$SUITE_PORT" -dir "$WORK/rev" &
PIDS+=($!)
squid_conf rev "http_port 127.0.0.1:$SQUID_REV_PORT accel defaultsite=localhost no-vhost" \
	"cache_peer 127.0.0.1 parent $SUITE_PORT 0 no-query no-digest originserver name=suite" \
	"cache_peer_access suite allow all" "http_access allow all"
wait_port "$SUITE_PORT"
wait_port "$REV_PORT"
wait_port "$SQUID_REV_PORT"
# The base has no trailing slash: the suite appends "/config/...".
(cd "$SUITE" && npm run --silent cli --base="http://localhost:$REV_PORT" >"$WORK/shoal.json")
(cd "$SUITE" && npm run --silent cli --base="http://localhost:$SQUID_REV_PORT" >"$WORK/squid.json")
echo
echo "== http-cache-tests $SUITE_VERSION (required tests: pass/fail; optimal: optional_fail; checks: yes/no)"
node cdn/web/cachetests-summary.mjs "$SUITE" "$WORK/shoal.json" "$WORK/squid.json"

# 2. Hit path.
"$WORK/cachebench" origin -listen "127.0.0.1:$ORIGIN_PORT" &
PIDS+=($!)
mkdir -p "$WORK/fwd"
"$WORK/cachebench" forward -listen "127.0.0.1:$FWD_PORT" -dir "$WORK/fwd" &
PIDS+=($!)
squid_conf fwd "http_port 127.0.0.1:$SQUID_FWD_PORT" "acl local src 127.0.0.0/8" \
	"http_access allow local" "http_access deny all"
wait_port "$ORIGIN_PORT"
sleep 1
OBJ="http://127.0.0.1:$ORIGIN_PORT/obj/10240"
cat >"$WORK/obj.lua" <<EOF
wrk.path = "$OBJ"
wrk.headers["Host"] = "127.0.0.1:$ORIGIN_PORT"
EOF
for p in $FWD_PORT $SQUID_FWD_PORT; do # warm: the object is stored, then a hit
	curl -s -o /dev/null --max-time 5 -x "http://127.0.0.1:$p" "$OBJ"
	curl -s -o /dev/null --max-time 5 -x "http://127.0.0.1:$p" "$OBJ"
done
declare -A RPS
for i in $(seq "$RUNS"); do
	for who in shoal squid; do
		port=$FWD_PORT
		[ "$who" = squid ] && port=$SQUID_FWD_PORT
		out=$(wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" -s "$WORK/obj.lua" "http://127.0.0.1:$port")
		if echo "$out" | grep -q "Non-2xx"; then
			echo "$who: non-2xx answers in run $i" >&2
			echo "$out" >&2
		fi
		RPS[$who]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
	done
done
stats() { # median, min, max of the numbers given
	printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "median %.0f  range %.0f-%.0f", m, a[1], a[NR]}'
}
echo
echo "== wrk hit path: 10 KB object, 2 threads, 32 connections, ${SECONDS_PER_RUN}s, $RUNS runs each (requests/s)"
for who in shoal squid; do
	# shellcheck disable=SC2086
	echo "$who: $(stats ${RPS[$who]})   runs: ${RPS[$who]}"
done
# shellcheck disable=SC2086
echo "ratio shoal/squid (medians): $(awk -v a="$(stats ${RPS[shoal]} | awk '{print $2}')" -v b="$(stats ${RPS[squid]} | awk '{print $2}')" 'BEGIN {printf "%.2f", a/b}')"
