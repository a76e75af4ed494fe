#!/bin/sh
# Durable SMTP accepts, side by side: Shoal's relay (smtpbench: a real bbolt
# file, one fsync per message) next to Postfix (Debian's package) started
# on loopback from a configuration and queue of its own in a temporary
# directory, both fed by Postfix's smtp-source:
#   smtp-source -s 10 -m 5000 -l 4096
# RUNS times each, alternating. Every run of Shoal checks that every
# accepted message is in the mailbox; Postfix's runs wait for its queue to
# drain (delivery to discard:). Prints msg/s per run, median and range.
#
#   sh mail/bench/smtp.sh          # as root, from the module root; needs postfix
set -eu
RUNS=${RUNS:-5}
MSGS=${MSGS:-5000}
PORT=17525
command -v smtp-source >/dev/null || { echo "smtp.sh: needs postfix (smtp-source)"; exit 1; }
work=$(mktemp -d /tmp/smtpbench.XXXXXX)
pf=$work/postfix
chmod 755 "$work" # Postfix runs as its own user
cleanup() {
	postfix -c "$pf/etc" stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Postfix with its own config, queue and data directories: nothing of the
# system's Postfix is touched (it need not run).
mkdir -p "$pf/etc" "$pf/queue" "$pf/data"
cp /etc/postfix/master.cf "$pf/etc/master.cf"
cp /etc/postfix/main.cf "$pf/etc/main.cf" 2>/dev/null || : >"$pf/etc/main.cf"
chown postfix "$pf/data"
postconf -c "$pf/etc" -e "queue_directory = $pf/queue" "data_directory = $pf/data" \
	"inet_interfaces = loopback-only" "inet_protocols = ipv4" \
	"mydestination = bob.shoal, localhost" "local_recipient_maps =" \
	"local_transport = discard:" "mynetworks = 127.0.0.0/8" "myhostname = bench.localdomain" \
	"maillog_file_prefixes = /var, /dev/stdout, /tmp" "maillog_file = $pf/postfix.log" "alias_maps =" "alias_database ="
postconf -c "$pf/etc" -M# smtp/inet
postconf -c "$pf/etc" -Me "127.0.0.1:$PORT/inet=127.0.0.1:$PORT inet n - n - - smtpd"
postfix -c "$pf/etc" check
postfix -c "$pf/etc" start >/dev/null
i=0
until perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(shift) or exit 1; exit((<$s> // "") !~ /^220/)' 127.0.0.1:$PORT; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "smtp.sh: postfix did not start:"; cat "$pf/postfix.log"; exit 1; }
	sleep 0.1
done

go build -o "$work/smtpbench" ./mail/smtpd/cmd/smtpbench
SOURCE="smtp-source -s 10 -m $MSGS -l 4096 -f bench@example.com -t bob@bob.shoal"
now() { date +%s.%N; }
rate() { echo "$MSGS $1 $2" | awk '{ printf "%.0f", $1 / ($3 - $2) }'; }
summary() { # name, rates...
	name=$1; shift
	printf '%s\n' "$@" | sort -n | awk -v name="$name" '
		{ v[NR] = $1 }
		END { printf "%-8s durable accepts  median %5d msg/s  range %d-%d  (%d runs)\n", name, v[int((NR+1)/2)], v[1], v[NR], NR }'
}
drained() { [ "$(postqueue -c "$pf/etc" -p | tail -n 1)" = "Mail queue is empty" ]; }

echo "== smtp-source -s 10 -m $MSGS -l 4096, $RUNS runs each, alternating; postfix $(postconf -h mail_version), $(go env GOVERSION)"
shoal_rates=""
postfix_rates=""
for i in $(seq "$RUNS"); do
	rm -f "$work/bench.db"
	"$work/smtpbench" -listen 127.0.0.1:0 -db "$work/bench.db" >"$work/out" 2>&1 &
	pid=$!
	addr=""
	while [ -z "$addr" ]; do sleep 0.05; addr=$(awk '/^listening/ { print $2 }' "$work/out" 2>/dev/null); done
	t0=$(now); $SOURCE "$addr"; t1=$(now)
	kill -INT "$pid"; wait "$pid" || true
	grep -q "stored $MSGS" "$work/out" || { echo "smtp.sh: Shoal did not store all $MSGS:"; cat "$work/out"; exit 1; }
	r=$(rate "$t0" "$t1"); echo "shoal   run $i: $r msg/s, $MSGS of $MSGS in the mailbox"; shoal_rates="$shoal_rates $r"

	t0=$(now); $SOURCE "127.0.0.1:$PORT"; t1=$(now)
	r=$(rate "$t0" "$t1"); echo "postfix run $i: $r msg/s"; postfix_rates="$postfix_rates $r"
	j=0; until drained; do j=$((j + 1)); [ $j -lt 600 ] || { echo "smtp.sh: postfix queue did not drain"; exit 1; }; sleep 0.2; done
done
summary shoal $shoal_rates
summary postfix $postfix_rates
