# Helpers shared by .ci/interop.sh and .ci/bench-cdn.sh (sourced, not run).
# They expect: $bin (the shoal binary, absolute) and $tmp (a scratch dir the
# caller removes). Every process they start is recorded with track and
# ended by cleanup (the caller traps it on EXIT).

# track PID: records a process for stop_all and cleanup, in $tmp/.pids so
# that processes started in a subshell ($(...)) are recorded too.
track() { echo "$1" >>"$tmp/.pids"; }

# stop_all ends every tracked process: SIGTERM, then SIGKILL after 5 s.
stop_all() {
	local all=() p alive
	[ -f "$tmp/.pids" ] && mapfile -t all <"$tmp/.pids"
	for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		alive=0
		for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for p in "${all[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -f "$tmp/.pids"
}

# cleanup stops everything and removes $tmp (trap it on EXIT).
cleanup() {
	stop_all
	rm -rf "$tmp"
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# shoal CMD...: the CLI under test.
shoal() { "$bin" "$@"; }

# start_node DIR BIND [FLAGS...]: starts a headless node on BIND with free
# ports and waits (20 s at most) until its control API answers. A
# DIR/shoal.toml written before holds settings such as [cdn] caps.
start_node() {
	local dir=$1 ip=$2; shift 2
	mkdir -p "$dir"
	# Every service port flag the binary knows (--peer-port, --bittorrent-port,
	# --dns-port, ...) gets 0: free ports, whatever else runs on this machine.
	local ports
	mapfile -t ports < <("$bin" help node | grep -oE '^[[:space:]]+--[a-z0-9-]+-port\b' | sed 's/^[[:space:]]*//; s/$/=0/')
	"$bin" node --data "$dir" --bind "$ip" --ui "$ip:0" "${ports[@]}" \
		--name "n${ip//./-}" "$@" >"$dir.log" 2>&1 &
	local pid=$!
	track "$pid"
	for _ in $(seq 200); do
		if [ -s "$dir/ui-address" ] && shoal status --data "$dir" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || { echo "node in $dir exited:" >&2; cat "$dir.log" >&2; return 1; }
		sleep 0.1
	done
	echo "node in $dir did not answer in 20 s:" >&2
	cat "$dir.log" >&2
	return 1
}

# service DIR NAME: the address (HOST:PORT) of a running node's service
# (peer, tracker, bittorrent) from `shoal status`.
service() { shoal status --data "$1" | awk -v s="$2" '$1 == s { split($2, a, "/"); print a[1] }'; }

# wait_members DIR N: waits (20 s at most) until the node sees N members alive.
wait_members() {
	local n
	for _ in $(seq 200); do
		n=$(shoal peers --data "$1" | awk 'NR > 1 && $0 ~ / alive /' | wc -l)
		[ "$n" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "node in $1 sees $n of $2 members alive after 20 s" >&2
	return 1
}

# publish DIR FILE: publishes FILE on the node; prints the infohash.
publish() { shoal publish "$2" --data "$1" 2>/dev/null | awk '$1 == "infohash" { print $2 }'; }

# torrent_infohash FILE.torrent: the infohash, as aria2 reads it.
torrent_infohash() { aria2c -S "$1" | awk -F': ' '/^Info Hash/ { print $2 }'; }

# seeders TRACKER IH: how many seeders the tracker (HOST:PORT) lists (scrape).
seeders() {
	local esc
	esc=$(printf '%s' "$2" | sed 's/../%&/g')
	curl -sf "http://$1/scrape?info_hash=$esc" | grep -ao '8:completei[0-9]*e' | head -1 | tr -dc 0-9
}

# wait_seeders TRACKER IH N: waits (15 s at most) until the tracker lists N seeders.
wait_seeders() {
	for _ in $(seq 150); do
		[ "$(seeders "$1" "$2")" -ge "$3" ] 2>/dev/null && return 0
		sleep 0.1
	done
	echo "tracker $1 lists $(seeders "$1" "$2") seeders of $2 after 15 s, want $3" >&2
	return 1
}

# randfile PATH MIB: a file of MIB MiB of random bytes.
randfile() { head -c "$(( $2 << 20 ))" /dev/urandom >"$1"; }

# aria2 flags that keep aria2c on what it is told: no DHT, no LPD, no PEX.
aria2_flags=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false
	--summary-interval=0 --console-log-level=warn --file-allocation=none --check-certificate=false)

# aria2_leech SOURCE DIR LOG SECONDS: aria2c downloads SOURCE (a .torrent or
# a magnet link) into DIR, logging to LOG, and exits once it has it; fails
# after SECONDS.
aria2_leech() {
	timeout "$4" aria2c "${aria2_flags[@]}" --seed-time=0 --listen-port=$((20000 + RANDOM % 20000)) \
		--dir "$2" "$1" >"$3" 2>&1
}

# aria2_seed TORRENT DIR LOG: aria2c seeds TORRENT's files from DIR (checked
# first) in the background, logging to LOG; its pid is tracked and left in
# $! for the caller.
aria2_seed() {
	aria2c "${aria2_flags[@]}" --seed-ratio=0 -V --listen-port=$((40000 + RANDOM % 20000)) \
		--dir "$2" "$1" >"$3" 2>&1 &
	track $!
}

# cpu_ticks PID...: user + system clock ticks the processes used so far.
cpu_ticks() { local p t=0 a; for p; do read -ra a <"/proc/$p/stat"; t=$(( t + a[13] + a[14] )); done; echo "$t"; }
# machine_ticks: busy clock ticks of the whole machine (all but idle and iowait).
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
# children_ms: the CPU ms (user + system) of the shell's finished children,
# from `times` run in this shell (a pipeline's subshell has no children).
children_ms() {
	local f
	f=$(mktemp -p "$tmp")
	times >"$f"
	tail -n 1 "$f" | awk '{ gsub(/[ms]/, " "); printf "%d", (($1 * 60 + $2) + ($3 * 60 + $4)) * 1000 }'
	rm -f "$f"
}

# start_swarm PREFIX NET N KIB: N nodes in $tmp/PREFIX1..N on NET.1..N, each
# with its upload capped at KIB KiB/s, 2..N joined through node 1, and waits
# until all see N members. Their pids go to the array swarm_pids.
start_swarm() {
	local prefix=$1 net=$2 n=$3 kib=$4 i join
	swarm_pids=()
	for i in $(seq "$n"); do
		mkdir -p "$tmp/$prefix$i"
		printf '[cdn]\nupload_kib_s = %d\n' "$kib" >"$tmp/$prefix$i/shoal.toml"
		join=()
		[ "$i" -gt 1 ] && join=(--join "$(service "$tmp/${prefix}1" peer)")
		start_node "$tmp/$prefix$i" "$net.$i" "${join[@]}" || { echo "swarm node $i did not start" >&2; return 1; }
		swarm_pids+=("$(tail -n 1 "$tmp/.pids")")
	done
	for i in $(seq "$n"); do wait_members "$tmp/$prefix$i" "$n" || return 1; done
}
