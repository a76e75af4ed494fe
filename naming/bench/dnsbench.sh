#!/usr/bin/env bash
# dnsbench.sh: queries per second and p99 latency of the node's DNS server
# (package naming) next to Unbound (2 threads) and dnsmasq, configured with
# the same names and answering the same query files in the same run, under
# dnsperf. Two workloads:
#   zone    names of the group's zone (m0000.shoal. ...): local data
#   cached  outside names (h0000.bench.example. ...) forwarded to a local
#           authoritative upstream once to warm the cache, then answered
#           from the cache
# Throughput: dnsperf -c CLIENTS -T 1 -l SECONDS (as many queries as the
# server takes). Latency: a second dnsperf run at a fixed offered load
# (-Q LATENCY_QPS) with per-query output, of which the 99th percentile is
# taken, so p99 is measured below saturation, the same load for all.
#
# It installs nothing: dnsperf (Debian package dnsperf) is required,
# unbound and dnsmasq are used when present. Go builds the servers.
#
# Usage: naming/bench/dnsbench.sh [-n NAMES] [-l SECONDS] [-c CLIENTS]
#                                 [-r RUNS] [-q LATENCY_QPS] [-p BASE_PORT]
# With RUNS > 1 every figure is the median of the runs.
set -euo pipefail

NAMES=1000 SECONDS_=10 CLIENTS=10 RUNS=1 LATQPS=20000 BASE=25350
while getopts "n:l:c:r:q:p:h" opt; do
	case $opt in
	n) NAMES=$OPTARG ;;
	l) SECONDS_=$OPTARG ;;
	c) CLIENTS=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	q) LATQPS=$OPTARG ;;
	p) BASE=$OPTARG ;;
	*) sed -n '2,22s/^# \{0,1\}//p' "$0"; exit 2 ;;
	esac
done

have() { command -v "$1" >/dev/null 2>&1; }
if ! have dnsperf; then
	echo "dnsbench: dnsperf not found (apt-get install dnsperf)" >&2
	exit 1
fi
UNBOUND=$(command -v unbound || true)
DNSMASQ=$(command -v dnsmasq || true)
[ -n "$UNBOUND" ] || echo "dnsbench: unbound not found: skipped (apt-get install unbound)" >&2
[ -n "$DNSMASQ" ] || echo "dnsbench: dnsmasq not found: skipped (apt-get install dnsmasq)" >&2

UP=$BASE SHOAL=$((BASE + 1)) UNB=$((BASE + 2)) MASQ=$((BASE + 3))
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

cd "$(dirname "$0")/../.."
go test -c -o "$work/dnsserve" ./naming/bench

# The names, as query files, Unbound local-data and a hosts file.
for ((i = 0; i < NAMES; i++)); do
	printf 'm%04d.shoal A\n' "$i" >>"$work/zone.txt"
	printf 'h%04d.bench.example A\n' "$i" >>"$work/cached.txt"
	printf '  local-data: "m%04d.shoal. 60 IN A 127.1.%d.%d"\n' "$i" $((i >> 8)) $((i & 255)) >>"$work/local-data.conf"
	printf '127.1.%d.%d m%04d.shoal\n' $((i >> 8)) $((i & 255)) "$i" >>"$work/hosts"
done

serve() { # role port
	DNSBENCH_ROLE=$1 DNSBENCH_NAMES=$NAMES DNSBENCH_LISTEN=127.0.0.1:$2 DNSBENCH_UPSTREAM=127.0.0.1:$UP \
		"$work/dnsserve" -test.run '^TestServe$' -test.timeout 0 >"$work/$1.log" 2>&1 &
	pids+=($!)
}
serve upstream "$UP"
serve shoal "$SHOAL"

if [ -n "$UNBOUND" ]; then
	cat >"$work/unbound.conf" <<CONF
server:
  interface: 127.0.0.1
  port: $UNB
  num-threads: 2
  so-reuseport: yes
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$work"
  pidfile: "$work/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
  qname-minimisation: no
  msg-cache-size: 64m
  rrset-cache-size: 128m
  local-zone: "shoal." static
$(cat "$work/local-data.conf")
forward-zone:
  name: "bench.example."
  forward-addr: 127.0.0.1@$UP
CONF
	"$UNBOUND" -d -c "$work/unbound.conf" >"$work/unbound.log" 2>&1 &
	pids+=($!)
fi
if [ -n "$DNSMASQ" ]; then
	"$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port="$MASQ" --listen-address=127.0.0.1 \
		--bind-interfaces --no-resolv --no-hosts --addn-hosts="$work/hosts" --local-ttl=60 \
		--server="/bench.example/127.0.0.1#$UP" --cache-size=10000 --dns-forward-max=1000 \
		--pid-file="$work/dnsmasq.pid" --user="$(id -un)" --log-facility=- >"$work/dnsmasq.log" 2>&1 &
	pids+=($!)
fi

# ready PORT: wait until the server answers.
ready() {
	for _ in $(seq 100); do
		if echo "m0000.shoal A" | dnsperf -s 127.0.0.1 -p "$1" -n 1 -t 1 2>/dev/null | grep -q "Queries completed:    1 "; then
			return 0
		fi
		sleep 0.1
	done
	echo "dnsbench: server on port $1 did not come up" >&2
	cat "$work"/*.log >&2
	exit 1
}

servers=("shoal:$SHOAL")
[ -n "$UNBOUND" ] && servers+=("unbound:$UNB")
[ -n "$DNSMASQ" ] && servers+=("dnsmasq:$MASQ")
for s in "${servers[@]}"; do ready "${s#*:}"; done
# Warm the caches: every outside name once.
for s in "${servers[@]}"; do
	dnsperf -s 127.0.0.1 -p "${s#*:}" -d "$work/cached.txt" -n 1 -c 1 -q 10 >/dev/null 2>&1
done

# qps PORT FILE, p99 PORT FILE (milliseconds)
qps() {
	dnsperf -s 127.0.0.1 -p "$1" -d "$2" -c "$CLIENTS" -T 1 -l "$SECONDS_" 2>/dev/null |
		awk '/Queries per second/ {printf "%.0f", $4} /Queries lost/ {lost=$3} END {if (lost+0 > 0) printf "(lost %s)", lost}'
}
p99() {
	dnsperf -s 127.0.0.1 -p "$1" -d "$2" -c "$CLIENTS" -T 1 -l 5 -Q "$LATQPS" -v 2>/dev/null |
		awk '$1 == ">" {print $NF * 1000}' | sort -n | awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i]}'
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {printf "%s", v[int((NR + 1) / 2)]}'; }

declare -A Q P
for ((run = 1; run <= RUNS; run++)); do
	for load in zone cached; do
		for s in "${servers[@]}"; do
			name=${s%%:*} port=${s#*:}
			Q[$name.$load]+="$(qps "$port" "$work/$load.txt") "
			P[$name.$load]+="$(p99 "$port" "$work/$load.txt") "
		done
	done
done

echo "# dnsperf -c $CLIENTS -T 1 -l $SECONDS_, $NAMES names, $(nproc) CPUs, median of $RUNS run(s); p99 at $LATQPS qps offered"
printf '%-8s %-8s %10s %9s %14s %14s\n' load server qps p99_ms vs_unbound vs_dnsmasq
for load in zone cached; do
	ub=$(echo "${Q[unbound.$load]:-}" | median)
	dm=$(echo "${Q[dnsmasq.$load]:-}" | median)
	for s in "${servers[@]}"; do
		name=${s%%:*}
		q=$(echo "${Q[$name.$load]}" | median)
		p=$(echo "${P[$name.$load]}" | median)
		r1=$([ -n "$ub" ] && awk -v a="$q" -v b="$ub" 'BEGIN {printf "%.2fx", a / b}' || echo -)
		r2=$([ -n "$dm" ] && awk -v a="$q" -v b="$dm" 'BEGIN {printf "%.2fx", a / b}' || echo -)
		printf '%-8s %-8s %10s %9s %14s %14s\n' "$load" "$name" "$q" "$p" "$r1" "$r2"
	done
	echo "# all runs $load: $(for s in "${servers[@]}"; do printf '%s=[%s] ' "${s%%:*}" "${Q[${s%%:*}.$load]% }"; done)"
done
