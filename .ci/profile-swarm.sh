#!/usr/bin/env bash
# Where the N = 8 swarm's CPU goes (docs/swarm-profile.md): the swarm of
# .ci/bench-cdn.sh (1 seeder + 7 downloaders, upload capped at U_KIB, a file
# of F_MIB), run RUNS times, with per run: the wall time, the CPU seconds of
# the node processes and of the `shoal get` clients, the whole machine's CPU
# (/proc/stat), and the bytes the block devices wrote (/proc/diskstats), each
# per MiB delivered. With PROFILE=1 the last run also takes a CPU profile of
# the seeder and of one downloader (OUT/seeder.pprof, OUT/leecher.pprof) and
# a block profile of the seeder, through /api/v1/debug/pprof; with STRACE=1
# it counts the seeder's system calls (strace -c -f) in that run instead.
#   bash .ci/profile-swarm.sh bin/shoal [OUT]
set -euo pipefail
bin=$(realpath "${1:-bin/shoal}")
out=$(realpath -m "${2:-/tmp/swarm-profile}")
root=$(realpath "$(dirname "$0")/..")
RUNS=${RUNS:-5}
U_KIB=${U_KIB:-8192}
F_MIB=${F_MIB:-64}
N=${N:-8}
PROFILE=${PROFILE:-0}
STRACE=${STRACE:-0}
tmp=$(mktemp -d)
mkdir -p "$out"
cd "$root/.ci"
. ./cdn-lib.sh
trap cleanup EXIT
trap "exit 1" INT TERM HUP
fail() { echo "profile-swarm: FAIL: $*" >&2; exit 1; }
hz=$(getconf CLK_TCK)

# written_sectors: 512-byte sectors written by the disks (not partitions).
written_sectors() { awk '$3 !~ /[0-9]$/ || $3 ~ /^nvme[0-9]+n[0-9]+$/ { s += $10 } END { print s + 0 }' /proc/diskstats; }
token() { cat "$1/api-token"; }
ui() { cat "$1/ui-address"; }

start_swarm n 127.0.79 "$N" "$U_KIB" || fail "the swarm did not start"
pids=("${swarm_pids[@]}")
mkdir -p "$tmp/src"
echo "N=$N F=$F_MIB MiB u=$U_KIB KiB/s, $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %8s %8s %10s %10s %10s %10s %10s\n' run wall_s xD_p2p node_cpu_s get_cpu_s ms/MiB mach_ms/MiB disk/MiB
fu_ms=$(( F_MIB * 1024 * 1000 / U_KIB ))
for r in $(seq "$RUNS"); do
	f="$tmp/src/p-$r-$RANDOM.bin"
	randfile "$f" "$F_MIB"
	ih=$(publish "$tmp/n1" "$f") && [ -n "$ih" ] || fail "publish failed"
	sync; sleep 1
	prof=()
	if [ "$r" = "$RUNS" ] && [ "$PROFILE" = 1 ]; then
		curl -sf -H "Authorization: Bearer $(token "$tmp/n1")" -o "$out/seeder.pprof" "http://$(ui "$tmp/n1")/api/v1/debug/pprof/profile?seconds=7" & prof+=($!)
		curl -sf -H "Authorization: Bearer $(token "$tmp/n2")" -o "$out/leecher.pprof" "http://$(ui "$tmp/n2")/api/v1/debug/pprof/profile?seconds=7" & prof+=($!)
		curl -sf -H "Authorization: Bearer $(token "$tmp/n1")" -o "$out/seeder-block.pprof" "http://$(ui "$tmp/n1")/api/v1/debug/pprof/block?seconds=7" & prof+=($!)
	fi
	if [ "$r" = "$RUNS" ] && [ "$STRACE" = 1 ]; then
		strace -c -f -o "$out/seeder.strace" -p "${pids[0]}" & prof+=($!)
		strace -c -f -o "$out/leecher.strace" -p "${pids[1]}" & prof+=($!)
		sleep 0.5
	fi
	c0=$(cpu_ticks "${pids[@]}"); m0=$(machine_ticks); w0=$(written_sectors)
	t0=$(now_ms)
	get_cpu=$( (
		for i in $(seq 2 "$N"); do
			( timeout 300 "$bin" get "$ih" --data "$tmp/n$i" >"$tmp/get$i.log" 2>&1 || echo "fail $i" >>"$tmp/fails" ) &
		done
		wait
		children_ms
	) )
	t=$(( $(now_ms) - t0 ))
	[ -s "$tmp/fails" ] && fail "downloads failed: $(cat "$tmp/fails"; tail -n 3 "$tmp"/get*.log)"
	c1=$(cpu_ticks "${pids[@]}"); m1=$(machine_ticks)
	sync; w1=$(written_sectors)
	for i in $(seq 2 "$N"); do cmp -s "$f" "$(tail -n 1 "$tmp/get$i.log")" || fail "node $i's copy differs"; done
	if [ "${#prof[@]}" -gt 0 ]; then
		[ "$STRACE" = 1 ] && { sleep 0.5; kill -INT "${prof[@]}" 2>/dev/null || true; }
		wait "${prof[@]}" || true
	fi
	mib=$(( (N - 1) * F_MIB ))
	awk -v r="$r" -v t="$t" -v fu="$fu_ms" -v c=$((c1 - c0)) -v g="$get_cpu" -v m=$((m1 - m0)) -v w=$((w1 - w0)) -v hz="$hz" -v mib="$mib" 'BEGIN {
		nc = c / hz; g = g / 1000; printf "%-4s %8.2f %8.2f %10.2f %10.2f %10.1f %10.1f %10.2f\n", r, t / 1000, t / fu, nc, g, (nc + g) * 1000 / mib, m / hz * 1000 / mib, w * 512 / 1048576 / mib }'
done
