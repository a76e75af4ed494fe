#!/bin/sh
# The time from `shoal network join INVITE` until the network's catalog is
# listed on the new member (`shoal ls --network` shows the item a member
# published), with shoal's default gossip and catalog intervals: a
# member (alpha, 127.0.0.91) makes a private network, publishes a file and
# invites; for each run a fresh node (127.0.0.92) joins with the
# invitation (offline: it writes network.key and shoal.toml), starts, and
# polls its catalog every 50 ms. Prints each run, then the median and range.
# RUNS (default 5) sets the number of runs. MODE=running joins a node that
# already runs in an open network instead (it starts again in the private
# one): the clock then starts at the join, after the node is up.
set -eu
runs=${RUNS:-5}
dir=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
go build -tags migrated_fynedo -o "$dir/shoal" .
shoal="$dir/shoal"
ports="--peer-port 0 --bittorrent-port 0 --dns-port 0 --smtp-port 0 --submission-port 0 --imap-port 0 --pop3-port 0 --ftp-port 0 --proxy-port 0 --ui 127.0.0.1:0"

waitfor() { # waitfor FILE: until the node writes its UI address
	i=0
	until [ -s "$1" ]; do
		i=$((i + 1)); [ $i -lt 600 ] || { echo "bench-join: no node came up ($1)"; exit 1; }
		sleep 0.05
	done
}

"$shoal" network create bench --data "$dir/alpha" >/dev/null
# shellcheck disable=SC2086
"$shoal" node --data "$dir/alpha" --name alpha --bind 127.0.0.91 $ports >"$dir/alpha.log" 2>&1 &
pids="$pids $!"
waitfor "$dir/alpha/ui-address"
head -c 1048576 /dev/urandom >"$dir/bench-item.bin"
"$shoal" publish "$dir/bench-item.bin" --data "$dir/alpha" >/dev/null 2>&1
invite=$("$shoal" network invite --data "$dir/alpha" 2>/dev/null)

times=""
for run in $(seq 1 "$runs"); do
	b="$dir/beta$run"
	if [ "${MODE:-}" = running ]; then
		# shellcheck disable=SC2086
		"$shoal" node --data "$b" --name "beta$run" --bind 127.0.0.92 $ports >"$dir/beta$run.log" 2>&1 &
		bpid=$!
		waitfor "$b/ui-address"
		start=$(date +%s.%N)
		"$shoal" network join "$invite" --data "$b" >/dev/null
	else
		start=$(date +%s.%N)
		"$shoal" network join "$invite" --data "$b" >/dev/null
		# shellcheck disable=SC2086
		"$shoal" node --data "$b" --name "beta$run" --bind 127.0.0.92 $ports >"$dir/beta$run.log" 2>&1 &
		bpid=$!
		waitfor "$b/ui-address"
	fi
	i=0
	until "$shoal" ls --network --data "$b" 2>/dev/null | grep -q bench-item.bin; do
		i=$((i + 1)); [ $i -lt 1200 ] || { echo "bench-join: run $run: the catalog was not listed in 60 s"; tail -20 "$dir/beta$run.log"; exit 1; }
		sleep 0.05
	done
	end=$(date +%s.%N)
	kill "$bpid"; wait "$bpid" 2>/dev/null || true
	t=$(awk "BEGIN { printf \"%.3f\", $end - $start }")
	echo "run $run: $t s"
	times="$times $t"
done
echo "$times" | tr ' ' '\n' | grep . | sort -n | awk -v mode="${MODE:-fresh node}" '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "join until the catalog is listed (" mode "): median %.2f s, range %.2f-%.2f s, %d runs\n", m, v[1], v[NR], NR }'
