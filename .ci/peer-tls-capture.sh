#!/bin/sh
# Captures the loopback while two members join, gossip and sync catalogs
# (cdn TestMembersTalkOverTLS) and checks that no record JSON went in clear,
# while the gateway's plain HTTP answer to a standard client
# (TestStandardClientsInClear) did, which shows the capture sees the port.
# Needs root and tcpdump (Debian package tcpdump).
set -eu
command -v tcpdump >/dev/null || { echo "peer-tls-capture: SKIP, no tcpdump (apt-get install tcpdump)"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "peer-tls-capture: SKIP, not root"; exit 0; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go test -tags migrated_fynedo -c -o "$dir/cdn.test" ./cdn/
tcpdump -Z root -i lo -U -s 0 -w "$dir/cap.pcap" tcp and host 127.0.0.61 >"$dir/tcpdump.log" 2>&1 &
pid=$!
i=0
until grep -q listening "$dir/tcpdump.log"; do
	i=$((i + 1)); [ $i -lt 50 ] || { kill $pid; echo "peer-tls-capture: tcpdump did not start"; exit 1; }
	sleep 0.1
done
sleep 1 # the filter is attached a moment after tcpdump says it listens
"$dir/cdn.test" -test.run '^(TestMembersTalkOverTLS|TestStandardClientsInClear)$' -test.count=1 -test.timeout 2m
sleep 0.5
kill $pid; wait $pid || true
fail=0
for w in alpharecord betarecord '"public_key"' '/peer/v1/'; do
	n=$(grep -c -a -- "$w" "$dir/cap.pcap" || true)
	echo "in clear: $w: $n"
	[ "$n" = 0 ] || fail=1
done
sleep 1 # the filter is attached a moment after tcpdump says it listens
n=$(grep -c -a -- 'hello browsers' "$dir/cap.pcap" || true)
echo "control, the gateway's answer to a plain client in clear: $n"
[ "$n" -gt 0 ] || { echo "peer-tls-capture: the capture saw nothing"; fail=1; }
[ $fail = 0 ] && echo "peer-tls-capture: OK" || { echo "peer-tls-capture: FAIL"; exit 1; }
