#!/usr/bin/env bash
# CDN figures for docs/BENCHMARKS.md, each next to its reference measured in
# the same run on the same machine (loopback only). Prints Markdown.
#   1. Swarm distribution: 1 seeder + N-1 downloaders (N = 2, 4, 8), a file
#      of F MiB, every node's upload capped at u by [cdn] upload_kib_s in
#      shoal.toml, downloads uncapped: the time until all N-1 have it, next to
#      the bounds D_p2p and D_cs and to a measured client-server run (N-1
#      curl clients fetching the file together from one HTTP server whose
#      upload is capped at the same u, shared by its connections:
#      cdn/internal/benchtool), and to an aria2 swarm of the same shape (one
#      aria2c seeder and N-1 aria2c leechers that keep seeding, every one
#      capped by --max-upload-limit, a Shoal node's tracker). Each with the
#      CPU seconds (user + system) per MiB delivered: of its own processes
#      (nodes and `shoal get`; the aria2c processes), and of the whole machine
#      (/proc/stat), which includes whatever else the machine runs.
#   2. One uncapped transfer of 256 MiB: Shoal -> Shoal (`shoal get`) next to
#      aria2 -> aria2 (an aria2c seeder and an aria2c leecher that find each
#      other through a Shoal node's tracker).
#   3. Time to first byte of a gateway GET of a fresh 1 MiB item that only a
#      remote member holds, next to the same GET on the holder itself.
# Medians of RUNS runs (default 3; TTFB_RUNS, default 9, for figure 3).
# Knobs: U_KIB (default 8192), F_MIB (64), NS ("2 4 8"; "" skips figure 1), BIG_MIB (256),
# CS_RUNS (client-server runs per N, default 1: a token bucket is steady).
# Items are never removed between runs: each run publishes a fresh file and
# the nodes keep what they got (a few GiB in $tmp), so every run starts from
# the same kind of node.
set -euo pipefail
bin=$(realpath "${1:-bin/shoal}")
root=$(realpath "$(dirname "$0")/..")
GO=${GO:-go}
RUNS=${RUNS:-3}
CS_RUNS=${CS_RUNS:-1}
TTFB_RUNS=${TTFB_RUNS:-9}
U_KIB=${U_KIB:-8192}
F_MIB=${F_MIB:-64}
NS=${NS-"2 4 8"}
BIG_MIB=${BIG_MIB:-256}
tmp=$(mktemp -d)
cd "$root/.ci"
. ./cdn-lib.sh
trap cleanup EXIT
trap "exit 1" INT TERM HUP
fail() { echo "bench-cdn: FAIL: $*" >&2; exit 1; }
for tool in aria2c mktorrent curl cmp; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (make bench installs aria2 and mktorrent)"
done

hz=$(getconf CLK_TCK)
# ms_per_mib TICKS MIB: clock ticks as CPU ms per MiB.
ms_per_mib() { awk -v t="$1" -v hz="$hz" -v m="$2" 'BEGIN { printf "%.1f", t * 1000 / hz / m }'; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# s MS: milliseconds as seconds with 2 decimals; ratio A B: A/B with 2 decimals.
s() { awk -v m="$1" 'BEGIN { printf "%.2f", m / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# secs MS...: each time in seconds, separated by spaces.
secs() { local x out=(); for x; do out+=("$(s "$x")"); done; echo "${out[*]}"; }
# last_path LOG: the downloaded file's path, last line of `shoal get`.
last_path() { tail -n 1 "$1"; }

( cd "$root" && "$GO" build -o "$tmp/benchtool" ./cdn/internal/benchtool ) || fail "cannot build cdn/internal/benchtool"
mkdir -p "$tmp/src"
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(uname -m), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), loopback;"
echo "shoal $("$bin" version | awk '{print $2}'), $(aria2c --version | head -1). Medians of $RUNS runs unless said."
echo

# ---------------------------------------------------------------- 1. swarm
nmax=0
for n in $NS; do [ "$n" -gt "$nmax" ] && nmax=$n; done
start_swarm swarm 127.0.77 "$nmax" "$U_KIB" || fail "the swarm did not start"

"$tmp/benchtool" capserve -addr 127.0.77.100:0 -rate $((U_KIB << 10)) -dir "$tmp/src" >"$tmp/capserve.out" 2>&1 &
track $!
for _ in $(seq 50); do [ -s "$tmp/capserve.out" ] && break; sleep 0.1; done
cs_addr=$(awk '/^listening on/ { print $3 }' "$tmp/capserve.out")
[ -n "$cs_addr" ] || fail "benchtool capserve did not start: $(cat "$tmp/capserve.out")"

# swarm_run N: publishes a fresh file on node 1, has nodes 2..N get it at
# once; prints the ms until the last one had every piece verified, the CPU
# ms of the N nodes and the N-1 `shoal get` clients, and the whole machine's
# busy CPU ms over the same time.
swarm_run() {
	local n=$1 f ih t0 i last=0 t c0 m0 getms
	f="$tmp/src/swarm-$n-$RANDOM$RANDOM.bin"
	randfile "$f" "$F_MIB"
	ih=$(publish "$tmp/swarm1" "$f") && [ -n "$ih" ] || fail "publish on the seeder failed"
	c0=$(cpu_ticks "${swarm_pids[@]:0:n}"); m0=$(machine_ticks)
	t0=$(now_ms)
	getms=$( (
		for i in $(seq 2 "$n"); do
			( timeout 300 "$bin" get "$ih" --data "$tmp/swarm$i" >"$tmp/get$i.log" 2>&1 && now_ms >"$tmp/done$i" ) &
		done
		wait
		children_ms
	) )
	for i in $(seq 2 "$n"); do
		[ -s "$tmp/done$i" ] || fail "a swarm download of $ih failed: $(tail -n 3 "$tmp/get$i.log")"
		t=$(( $(cat "$tmp/done$i") - t0 )); [ "$t" -gt "$last" ] && last=$t
		cmp -s "$f" "$(last_path "$tmp/get$i.log")" || fail "node $i's copy of $ih differs"
		rm -f "$tmp/done$i"
	done
	echo "$last $(( ($(cpu_ticks "${swarm_pids[@]:0:n}") - c0) * 1000 / hz + getms )) $(( ($(machine_ticks) - m0) * 1000 / hz ))"
}

# aria2_swarm_run N TRACKER: one aria2c seeder and N-1 aria2c leechers of a
# fresh file, all with their upload capped at U_KIB and finding each other
# through TRACKER; the leechers keep seeding until the last one is done.
# Prints what swarm_run prints, for the aria2c processes.
aria2_swarm_run() {
	local n=$1 tracker=$2 d="$tmp/aswarm" ih t0 i last=0 t m0 cpums name="aswarm-$RANDOM$RANDOM.bin"
	mkdir -p "$d/src"
	randfile "$d/src/$name" "$F_MIB"
	mktorrent -l 18 -a "http://$tracker/announce" -o "$d/t.torrent" "$d/src/$name" >/dev/null || fail "mktorrent failed"
	ih=$(torrent_infohash "$d/t.torrent")
	# aria2 runs this when a download is complete (it goes on seeding): $3 is the file's path.
	printf '#!/bin/sh\necho $(( $(date +%%s%%N) / 1000000 )) >"$3.done"\n' >"$d/hook"
	chmod +x "$d/hook"
	local cap=(--max-upload-limit="$((U_KIB))K" --bt-max-peers=0 --bt-tracker-interval=1)
	m0=$(machine_ticks)
	cpums=$( (
		aria2c "${aria2_flags[@]}" "${cap[@]}" --seed-ratio=0 -V --listen-port=$((40000 + RANDOM % 20000)) \
			--dir "$d/src" "$d/t.torrent" >"$d/seed.log" 2>&1 &
		pids=($!)
		wait_seeders "$tracker" "$ih" 1 || { kill "${pids[@]}"; fail "the aria2 seeder did not reach the tracker"; }
		now_ms >"$d/t0"
		for i in $(seq 2 "$n"); do
			mkdir -p "$d/l$i"
			aria2c "${aria2_flags[@]}" "${cap[@]}" --seed-ratio=0 --on-bt-download-complete="$d/hook" \
				--listen-port=$((20000 + RANDOM % 20000)) --dir "$d/l$i" "$d/t.torrent" >"$d/l$i.log" 2>&1 &
			pids+=($!)
		done
		for _ in $(seq 3000); do
			local done=0
			for i in $(seq 2 "$n"); do [ -s "$d/l$i/$name.done" ] && done=$((done + 1)); done
			[ "$done" = $((n - 1)) ] && break
			sleep 0.1
		done
		kill -TERM "${pids[@]}" 2>/dev/null; wait
		children_ms
	) )
	t0=$(cat "$d/t0")
	for i in $(seq 2 "$n"); do
		[ -s "$d/l$i/$name.done" ] || fail "aria2 leecher $i did not finish in 300 s: $(tail -n 3 "$d/l$i.log")"
		t=$(( $(cat "$d/l$i/$name.done") - t0 )); [ "$t" -gt "$last" ] && last=$t
		cmp -s "$d/src/$name" "$d/l$i/$name" || fail "aria2 leecher $i's copy differs"
	done
	rm -rf "$d"
	echo "$last $cpums $(( ($(machine_ticks) - m0) * 1000 / hz ))"
}

# cs_run N: N-1 curl clients fetch a fresh file from the capped server at
# once; prints the ms until the last one had it all.
cs_run() {
	local n=$1 f t0 i last=0 t name
	name="cs-$n-$RANDOM$RANDOM.bin"
	f="$tmp/src/$name"
	randfile "$f" "$F_MIB"
	local gp=()
	mkdir -p "$tmp/cs"
	t0=$(now_ms)
	for i in $(seq 2 "$n"); do
		( curl -sf -o "$tmp/cs/$i" "http://$cs_addr/$name" && now_ms >"$tmp/cs/done$i" ) &
		gp+=($!)
	done
	for p in "${gp[@]}"; do wait "$p" || fail "a client-server download failed"; done
	for i in $(seq 2 "$n"); do
		t=$(( $(cat "$tmp/cs/done$i") - t0 )); [ "$t" -gt "$last" ] && last=$t
		cmp -s "$f" "$tmp/cs/$i" || fail "client $i's copy differs"
	done
	rm -rf "$f" "$tmp/cs"
	echo "$last"
}

u_mib=$(awk -v k="$U_KIB" 'BEGIN { printf "%g", k / 1024 }')
echo "### Swarm distribution"
echo
echo "F = $F_MIB MiB, every node's upload capped at u = $u_mib MiB/s (\`[cdn] upload_kib_s = $U_KIB\`), downloads uncapped."
echo "N nodes = 1 seeder + N−1 downloaders. Bounds: D_p2p = max(F/u_s, F/d_min, (N−1)·F/(u_s+Σu_i)) = F/u"
echo "(Σ over the N−1 downloaders, so the third term is (N−1)/N·F/u < F/u; F/d_min ≈ 0 with uncapped loopback downloads);"
echo "D_cs = max((N−1)·F/u_s, F/d_min) = (N−1)·F/u (the server uploads N−1 copies). Client-server measured: N−1 curl"
echo "clients fetching the file at once from one HTTP server capped at u for all its connections (cdn/internal/benchtool;"
echo "the gateway has no upload cap of its own), median of $CS_RUNS run(s)."
echo
echo "| N | Shoal P2P | D_p2p | P2P / D_p2p | client-server measured | D_cs | P2P / client-server | P2P runs (s) |"
echo "|---|---|---|---|---|---|---|---|"
fu_ms=$(( F_MIB * 1024 * 1000 / U_KIB ))
# col K TRIPLES...: the K-th field of each run's "ms cpu_ms machine_ms".
col() { local k=$1; shift; printf '%s\n' "$@" | awk -v k="$k" '{ print $k }'; }
# range VALUES...: "min–max" of the values, formatted by awk's %g.
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%s–%s", a, b }'; }
# per_mib MS...: each CPU ms as ms per MiB delivered.
per_mib() { local x; for x; do awk -v c="$x" -v m="$mib" 'BEGIN { printf "%.1f\n", c / m }'; done; }
sw_last=() sw_n=0
for n in $NS; do
	runs=()
	for r in $(seq "$RUNS"); do runs+=("$(swarm_run "$n")"); done
	mapfile -t times < <(col 1 "${runs[@]}")
	p2p=$(printf '%s\n' "${times[@]}" | median)
	cs=()
	for r in $(seq "$CS_RUNS"); do cs+=("$(cs_run "$n")"); done
	csm=$(printf '%s\n' "${cs[@]}" | median)
	dp2p=$fu_ms
	dcs=$(( (n - 1) * fu_ms ))
	echo "| $n | $(s "$p2p") s | $(s "$dp2p") s | $(ratio "$p2p" "$dp2p") | $(s "$csm") s | $(s "$dcs") s | $(ratio "$p2p" "$csm") | $(secs "${times[@]}") |"
	sw_last=("${runs[@]}") sw_n=$n
done
echo
if [ "$sw_n" -gt 1 ] && [ "${ARIA2_SWARM:-1}" = 1 ]; then
	ar=()
	for r in $(seq "$RUNS"); do ar+=("$(aria2_swarm_run "$sw_n" "$(service "$tmp/swarm1" peer)")"); done
	mib=$(( (sw_n - 1) * F_MIB ))
	echo "### The N = $sw_n swarm next to an aria2 swarm, with CPU per MiB"
	echo
	echo "The same swarm (1 seeder + $((sw_n - 1)) downloaders, $F_MIB MiB, every upload capped at $u_mib MiB/s) by Shoal nodes and by"
	echo "aria2c processes (\`--max-upload-limit=${U_KIB}K\`, leechers go on seeding, a Shoal node's tracker), $RUNS runs each."
	echo "CPU: user + system seconds per MiB delivered ($mib MiB a run) — of the swarm's own processes (Shoal: the $sw_n"
	echo "nodes and the \`shoal get\` clients; aria2: the aria2c processes), and of the whole machine (/proc/stat, which"
	echo "counts whatever else ran). Median (range)."
	echo
	echo "| | time | × D_p2p | CPU ms/MiB, own processes | CPU ms/MiB, whole machine | runs (s) |"
	echo "|---|---|---|---|---|---|"
	for who in Shoal aria2; do
		if [ "$who" = Shoal ]; then set -- "${sw_last[@]}"; else set -- "${ar[@]}"; fi
		mapfile -t tt < <(col 1 "$@")
		mapfile -t own < <(per_mib $(col 2 "$@"))
		mapfile -t mach < <(per_mib $(col 3 "$@"))
		tm=$(printf '%s\n' "${tt[@]}" | median)
		echo "| $who | $(s "$tm") s ($(s "$(printf '%s\n' "${tt[@]}" | sort -g | head -1)")–$(s "$(printf '%s\n' "${tt[@]}" | sort -g | tail -1)")) | $(ratio "$tm" "$fu_ms") | $(printf '%s\n' "${own[@]}" | median) ($(range "${own[@]}")) | $(printf '%s\n' "${mach[@]}" | median) ($(range "${mach[@]}")) | $(secs "${tt[@]}") |"
		if [ "$who" = Shoal ]; then sh_own=$(printf '%s\n' "${own[@]}" | median); else ar_own=$(printf '%s\n' "${own[@]}" | median); fi
	done
	echo
	echo "Shoal's CPU per MiB / aria2's (own processes): $(ratio "$sh_own" "$ar_own") (target ≤ 0.5)."
	echo
fi
echo
stop_all

# -------------------------------------------------------- 2. one transfer
start_node "$tmp/big1" 127.0.78.1 || fail "node big1 did not start"
start_node "$tmp/big2" 127.0.78.2 --join "$(service "$tmp/big1" peer)" || fail "node big2 did not start"
wait_members "$tmp/big2" 2 || fail "big2 did not see big1"
tracker=$(service "$tmp/big1" peer)

shoal_run() {
	local f="$tmp/src/shoal-$RANDOM$RANDOM.bin" ih t0 t
	randfile "$f" "$BIG_MIB"
	ih=$(publish "$tmp/big1" "$f") && [ -n "$ih" ] || fail "publish of the big file failed"
	t0=$(now_ms)
	timeout 300 "$bin" get "$ih" --data "$tmp/big2" >"$tmp/big.log" 2>&1 || fail "shoal get of $BIG_MIB MiB failed: $(tail -n 3 "$tmp/big.log")"
	t=$(( $(now_ms) - t0 ))
	cmp -s "$f" "$(last_path "$tmp/big.log")" || fail "the Shoal copy differs"
	echo "$t"
}

aria2_run() {
	local d="$tmp/aria" t0 t seed ih name="aria2-$RANDOM$RANDOM.bin"
	mkdir -p "$d/src" "$d/out"
	randfile "$d/src/$name" "$BIG_MIB"
	mktorrent -l 18 -a "http://$tracker/announce" -o "$d/t.torrent" "$d/src/$name" >/dev/null || fail "mktorrent failed"
	ih=$(torrent_infohash "$d/t.torrent")
	aria2_seed "$d/t.torrent" "$d/src" "$tmp/aria2-seed.log"
	seed=$!
	wait_seeders "$tracker" "$ih" 1 || fail "the aria2 seeder did not reach the tracker"
	t0=$(now_ms)
	aria2_leech "$d/t.torrent" "$d/out" "$tmp/aria2-leech.log" 300 || fail "the aria2 leecher failed"
	t=$(( $(now_ms) - t0 ))
	kill -TERM "$seed" 2>/dev/null; wait "$seed" 2>/dev/null || true
	cmp -s "$d/src/$name" "$d/out/$name" || fail "the aria2 copy differs"
	rm -rf "$d"
	echo "$t"
}

sh_runs=() ar_runs=()
for r in $(seq "$RUNS"); do
	sh_runs+=("$(shoal_run)")
	ar_runs+=("$(aria2_run)")
done
shm=$(printf '%s\n' "${sh_runs[@]}" | median)
arm=$(printf '%s\n' "${ar_runs[@]}" | median)
echo "### One transfer, uncapped, on loopback"
echo
echo "$BIG_MIB MiB of random bytes, piece length 256 KiB on both sides; the time from starting the download"
echo "(\`shoal get INFOHASH\` on a member / \`aria2c --seed-time=0 X.torrent\`) until every piece is verified,"
echo "peer discovery included (Shoal: the member list; aria2: a Shoal node's tracker, the seeder already announced)."
echo
echo "| | Shoal → Shoal | aria2 → aria2 | aria2 time / Shoal time |"
echo "|---|---|---|---|"
mibs() { awk -v m="$1" -v b="$BIG_MIB" 'BEGIN { printf "%.0f", b / (m / 1000) }'; }
echo "| time (median) | $(s "$shm") s ($(mibs "$shm") MiB/s) | $(s "$arm") s ($(mibs "$arm") MiB/s) | $(ratio "$arm" "$shm") |"
echo "| runs (s) | $(secs "${sh_runs[@]}") | $(secs "${ar_runs[@]}") | |"
echo

# ------------------------------------------------------------ 3. TTFB
remote=$(service "$tmp/big2" peer)
holder=$(service "$tmp/big1" peer)
rt=() lt=()
for r in $(seq "$TTFB_RUNS"); do
	name="ttfb-$RANDOM$RANDOM.bin"
	f="$tmp/src/$name"
	randfile "$f" 1
	ih=$(publish "$tmp/big1" "$f") && [ -n "$ih" ] || fail "publish of a 1 MiB item failed"
	# The remote GET first, while only big1 holds the item.
	x=$(curl -sf --max-time 60 -o "$tmp/ttfb.out" -w '%{time_starttransfer}' "http://$remote/cdn/$ih/$name") || fail "gateway GET on the remote node failed"
	cmp -s "$f" "$tmp/ttfb.out" || fail "the remote gateway served other bytes"
	rt+=("$(awk -v x="$x" 'BEGIN { printf "%.1f", x * 1000 }')")
	x=$(curl -sf --max-time 60 -o "$tmp/ttfb.out" -w '%{time_starttransfer}' "http://$holder/cdn/$ih/$name") || fail "gateway GET on the holder failed"
	cmp -s "$f" "$tmp/ttfb.out" || fail "the holder's gateway served other bytes"
	lt+=("$(awk -v x="$x" 'BEGIN { printf "%.1f", x * 1000 }')")
done
rtm=$(printf '%s\n' "${rt[@]}" | median)
ltm=$(printf '%s\n' "${lt[@]}" | median)
echo "### Time to first byte of a remote item through the gateway"
echo
echo "GET /cdn/<infohash>/<name> of a fresh 1 MiB item (random bytes, published just before on another member) on"
echo "a node that does not hold it, \`curl -w '%{time_starttransfer}'\`, median of $TTFB_RUNS items; reference: the"
echo "same GET on the member that holds it. Target: < 200 ms."
echo
echo "| | remote (fetched from the swarm) | local (holder) | remote / local |"
echo "|---|---|---|---|"
echo "| TTFB (median) | $rtm ms | $ltm ms | $(ratio "$rtm" "$ltm") |"
echo "| runs (ms) | ${rt[*]} | ${lt[*]} | |"
