#!/usr/bin/env bash
# Node figures for docs/BENCHMARKS.md: cold start of a headless node until
# GET /api/v1/status answers (first start on an empty data dir, and restart
# on an existing one), and the idle resident memory 5 s after start.
# Medians of RUNS runs (default 9).
set -euo pipefail
bin=$(realpath "${1:-bin/shoal}")
runs=${RUNS:-9}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ms() { date +%s%N | awk '{printf "%d", $1/1000000}'; }

# start_once DIR: prints milliseconds from exec to the first 200 from /status.
start_once() {
	local dir=$1 t0 pid addr tok
	t0=$(date +%s%N)
	"$bin" node --data "$dir" --ui 127.0.0.1:0 --peer-port 0 --bittorrent-port 0 >/dev/null 2>&1 &
	pid=$!
	while :; do
		if [ -s "$dir/ui-address" ] && [ -s "$dir/api-token" ]; then
			addr=$(cat "$dir/ui-address"); tok=$(cat "$dir/api-token")
			if curl -sf -o /dev/null -H "Authorization: Bearer $tok" "http://$addr/api/v1/status"; then break; fi
		fi
	done
	echo $(( ($(date +%s%N) - t0) / 1000000 ))
	echo "$pid" >"$dir/.pid"
}

# stop PID: SIGTERM, then wait until it is gone (it is not our child).
stop() { kill -TERM "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

first=() restart=() rss=()
for i in $(seq "$runs"); do
	d="$tmp/n$i"
	first+=("$(start_once "$d")")
	pid=$(cat "$d/.pid")
	sleep 5
	rss+=("$(awk '/VmRSS/ {print $2}' /proc/$pid/status)")
	stop "$pid"
	restart+=("$(start_once "$d")")
	stop "$(cat "$d/.pid")"
done

printf 'first start until /api/v1/status answers: median %s ms  (runs: %s)\n' "$(printf '%s\n' "${first[@]}" | median)" "${first[*]}"
printf 'restart until /api/v1/status answers:     median %s ms  (runs: %s)\n' "$(printf '%s\n' "${restart[@]}" | median)" "${restart[*]}"
printf 'idle resident memory after 5 s:           median %s KiB (runs: %s)\n' "$(printf '%s\n' "${rss[@]}" | median)" "${rss[*]}"
