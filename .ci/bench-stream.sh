#!/usr/bin/env bash
# bench-stream.sh: the streaming benchmarks of docs/streaming-bench.md.
# In-process nodes on loopback (node/streambench_test.go), every node's
# upload capped, a 1280x720 film of SECONDS (default 60) with a ladder
# packaged once; RUNS runs (default 5) of each benchmark, then per metric
# the median and the range.
#   2. start-up and stalls through the swarm (BenchmarkStreamStartup),
#   3. seek to where nothing was fetched (BenchmarkStreamSeek),
#   5. offload with four watchers 10 s apart (BenchmarkStreamOffload),
#   6. playback cost of the window's path next to ffplay (app, BenchmarkWatchCPU).
#
#   RUNS=5 BENCH='Stream|WatchCPU' .ci/bench-stream.sh     (from the repository's root)
set -euo pipefail
root=$(realpath "$(dirname "$0")/..")
cd "$root"
runs=${RUNS:-5}
bench=${BENCH:-'Stream|WatchCPU'}
export SHOAL_BENCH_SECONDS=${SECONDS_OF_FILM:-60}
out=$(mktemp)
trap 'rm -f "$out"; rm -rf "${TMPDIR:-/tmp}"/shoal-streambench-*' EXIT
for tool in ffmpeg ffprobe ffplay; do
	command -v "$tool" >/dev/null || { echo "bench-stream: $tool is not installed (apt-get install ffmpeg)" >&2; exit 1; }
done
echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $runs runs each."
for pkg in ./node ./app; do
	go test -tags migrated_fynedo -count="$runs" -benchtime=1x -timeout 90m -run '^$' -bench "$bench" "$pkg" 2>&1 | tee -a "$out" >&2 || true
done
# Each result line: NAME-CPUS 1 NS ns/op VALUE UNIT VALUE UNIT ...
awk '$1 ~ /^Benchmark/ && $3 ~ /^[0-9]+$/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 5; i + 1 <= NF; i += 2) print name "\t" $(i+1) "\t" $i
}' "$out" >"$out.rows"
echo
echo "| benchmark | metric | median | range | runs |"
echo "|---|---|---|---|---|"
cut -f1,2 "$out.rows" | sort -u | while IFS=$'\t' read -r name metric; do
	vals=$(awk -F'\t' -v n="$name" -v m="$metric" '$1 == n && $2 == m { print $3 }' "$out.rows")
	sorted=$(printf '%s\n' $vals | sort -g)
	med=$(printf '%s\n' $sorted | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
	echo "| $name | $metric | $med | $(printf '%s\n' $sorted | head -1)–$(printf '%s\n' $sorted | tail -1) | $(echo $vals) |"
done
rm -f "$out.rows"
