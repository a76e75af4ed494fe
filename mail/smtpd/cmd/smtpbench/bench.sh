#!/bin/sh
# Durable SMTP accepts, side by side: Shoal's relay (smtpbench, one bbolt
# commit per message, and with -batch) and, if a port is given, a Postfix
# listening on loopback. Each is fed by Postfix's smtp-source:
#   smtp-source -s 10 -m 5000 -l 4096
# five times; the script prints messages per second for each run, then the
# median and the range.
#
#   bench.sh PFDIR [POSTFIX_PORT]
#
# PFDIR is an unpacked postfix package (apt-get download postfix &&
# dpkg -x postfix_*.deb PFDIR). Run from the repository root.
set -eu
PF=$1
POSTFIX_PORT=${2:-}
RUNS=${RUNS:-5}
MSGS=${MSGS:-5000}
SOURCE="env LD_LIBRARY_PATH=$PF/usr/lib/postfix $PF/usr/sbin/smtp-source -s 10 -m $MSGS -l 4096 -f bench@example.com -t bob@bob.shoal"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/smtpbench" ./mail/smtpd/cmd/smtpbench

now() { date +%s.%N; }
rate() { echo "$MSGS $1 $2" | awk '{ printf "%.0f", $1 / ($3 - $2) }'; }
summary() { # name, rates...
	name=$1; shift
	printf '%s\n' "$@" | sort -n | awk -v name="$name" '
		{ v[NR] = $1 }
		END { printf "%-14s median %5d msg/s  range %d-%d  (%d runs)\n", name, v[int((NR+1)/2)], v[1], v[NR], NR }'
}

shoal() { # extra flags
	rates=""
	for i in $(seq "$RUNS"); do
		rm -f "$WORK/bench.db" "$WORK/out"
		"$WORK/smtpbench" -listen 127.0.0.1:0 -db "$WORK/bench.db" "$@" >"$WORK/out" 2>&1 &
		pid=$!
		addr=""
		while [ -z "$addr" ]; do sleep 0.05; addr=$(awk '/^listening/ { print $2 }' "$WORK/out" 2>/dev/null); done
		t0=$(now); $SOURCE "$addr"; t1=$(now)
		kill -INT "$pid"; wait "$pid" || true
		grep -q "stored $MSGS" "$WORK/out" || { echo "smtpbench did not store $MSGS:"; cat "$WORK/out"; exit 1; }
		r=$(rate "$t0" "$t1"); echo "shoal $* run $i: $r msg/s"; rates="$rates $r"
	done
	summary "shoal${1:+ $1}" $rates
}

shoal
shoal -batch
if [ -n "$POSTFIX_PORT" ]; then
	rates=""
	for i in $(seq "$RUNS"); do
		t0=$(now); $SOURCE "127.0.0.1:$POSTFIX_PORT"; t1=$(now)
		r=$(rate "$t0" "$t1"); echo "postfix run $i: $r msg/s"; rates="$rates $r"
		while [ "$(mailq | tail -n 1)" != "Mail queue is empty" ]; do sleep 0.2; done
	done
	summary postfix $rates
fi
