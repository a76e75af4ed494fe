#!/usr/bin/env bash
# Node figures for docs/BENCHMARKS.md, next to Syncthing (Debian's package,
# a Go peer-to-peer desktop daemon with a local REST API) in the same run:
#   - first start on an empty data dir until the control API answers
#     (Shoal: GET /api/v1/status; Syncthing: GET /rest/system/status, both
#     with their API key),
#   - restart on an existing data dir until it answers,
#   - idle resident memory 5 s after start.
# Medians of RUNS runs (default 9).
set -euo pipefail
bin=$(realpath "${1:-bin/shoal}")
runs=${RUNS:-9}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# stop PID: SIGTERM, then wait until it is gone.
stop() { kill -TERM "$1" 2>/dev/null || true; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# start_shoal DIR: starts a node; prints "PID MS" (ms until /status answered).
start_shoal() {
	local dir=$1 t0 pid
	t0=$(date +%s%N)
	"$bin" node --data "$dir" --ui 127.0.0.1:0 --peer-port 0 --bittorrent-port 0 --dns-port 0 --smtp-port 0 --submission-port 0 --imap-port 0 --pop3-port 0 --proxy-port 0 >/dev/null 2>&1 &
	pid=$!
	until [ -s "$dir/ui-address" ] && [ -s "$dir/api-token" ] &&
		curl -sf -o /dev/null -H "Authorization: Bearer $(cat "$dir/api-token")" "http://$(cat "$dir/ui-address")/api/v1/status"; do :; done
	echo "$pid $(( ($(date +%s%N) - t0) / 1000000 ))"
}

# start_syncthing DIR PORT: the same for Syncthing's health endpoint.
start_syncthing() {
	local dir=$1 port=$2 t0 pid
	t0=$(date +%s%N)
	STNODEFAULTFOLDER=1 STNOUPGRADE=1 syncthing serve --home "$dir" --no-browser --no-restart \
		--gui-address "127.0.0.1:$port" --gui-apikey shoal-bench >/dev/null 2>&1 &
	pid=$!
	until curl -sf -o /dev/null -H "X-API-Key: shoal-bench" "http://127.0.0.1:$port/rest/system/status"; do :; done
	echo "$pid $(( ($(date +%s%N) - t0) / 1000000 ))"
}

# rss PID: resident KiB of PID and its children (Syncthing runs a monitor
# process and the real one).
rss() { { ps -o rss= -p "$1" || true; ps -o rss= --ppid "$1" || true; } | awk '{s += $1} END {print s}'; }
# anon PID: private (anonymous) resident KiB of PID and its children: the
# part of RSS that is not the binary's and libraries' shared file pages.
anon() {
	for p in "$1" $(ps -o pid= --ppid "$1" || true); do
		awk '/RssAnon/ {print $2}' "/proc/$p/status" 2>/dev/null || true
	done | awk '{s += $1} END {print s}'
}

# measure NAME START...: first start, idle RSS, restart.
measure() {
	local name=$1; shift
	local first=() restart=() mem=() priv=() pid ms
	for i in $(seq "$runs"); do
		d="$tmp/$name$i"
		read -r pid ms < <("$@" "$d" $((20000 + i)))
		first+=("$ms"); sleep 5; mem+=("$(rss "$pid")"); priv+=("$(anon "$pid")"); stop "$pid"
		read -r pid ms < <("$@" "$d" $((20000 + i)))
		restart+=("$ms"); stop "$pid"
	done
	printf '%-9s first start %4s ms   restart %4s ms   idle RSS %6s KiB (private %s KiB)\n' "$name" \
		"$(printf '%s\n' "${first[@]}" | median)" "$(printf '%s\n' "${restart[@]}" | median)" \
		"$(printf '%s\n' "${mem[@]}" | median)" "$(printf '%s\n' "${priv[@]}" | median)"
	printf '          runs: first %s | restart %s | rss %s\n' "${first[*]}" "${restart[*]}" "${mem[*]}"
}

measure shoal start_shoal
if command -v syncthing >/dev/null; then
	measure syncthing start_syncthing
else
	echo "syncthing not installed: no reference figures"
fi
