#!/usr/bin/env bash
# Interoperability with a real BitTorrent client from Debian (aria2), on
# loopback, in well under two minutes:
#   a. a Shoal node publishes a random file; aria2c downloads it knowing only
#      the node's .torrent (GET /cdn/<infohash>.torrent on the peer API),
#      finding the seeder through the tracker the torrent lists;
#   b. aria2c seeds a file whose .torrent (made by mktorrent) announces to
#      the node's tracker; the node downloads it from a bare infohash with
#      `shoal get`, finding aria2 through its own tracker;
#   c. aria2c downloads a file the node published from its magnet link alone
#      (metadata from the node, the node found through the magnet's tracker).
# Bytes are compared both ways. Every process and temp file is gone on exit.
set -euo pipefail
bin=$(realpath "${1:-bin/shoal}")
tmp=$(mktemp -d)
cd "$(dirname "$0")"
. ./cdn-lib.sh
trap cleanup EXIT
trap "exit 1" INT TERM HUP
fail() {
	echo "interop: FAIL: $*" >&2
	for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2; }; done
	exit 1
}
for tool in aria2c mktorrent curl cmp; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (make interop installs aria2 and mktorrent)"
done

# The node binds an address other than 127.0.0.1: its announces leave from
# 127.0.0.1 anyway, so aria2 reaches it only if the node tells the tracker
# its bind address (ip=). Ports are free ones.
ip=${INTEROP_IP:-127.0.0.9}
start_node "$tmp/node" "$ip" || fail "the Shoal node did not start"
peer=$(service "$tmp/node" peer) || fail "shoal status did not answer"
[ -n "$peer" ] || fail "shoal status shows no peer API address"
echo "interop: Shoal node up, peer API and tracker on $peer"

# a. Shoal seeds, aria2c downloads with the node's .torrent only.
mkdir -p "$tmp/a-src" "$tmp/a-out"
randfile "$tmp/a-src/shoal-to-aria2.bin" 8
timeout 15 "$bin" publish "$tmp/a-src/shoal-to-aria2.bin" --data "$tmp/node" >"$tmp/publish.out" 2>/dev/null ||
	fail "shoal publish failed"
ih=$(awk '$1 == "infohash" { print $2 }' "$tmp/publish.out")
magnet=$(tail -n 1 "$tmp/publish.out")
[ -n "$ih" ] || fail "shoal publish printed no infohash"
curl -sf -o "$tmp/a.torrent" "http://$peer/cdn/$ih.torrent" || fail "GET http://$peer/cdn/$ih.torrent failed"
[ "$(torrent_infohash "$tmp/a.torrent")" = "$ih" ] || fail "the node's .torrent does not have infohash $ih"
t0=$(now_ms)
aria2_leech "$tmp/a.torrent" "$tmp/a-out" "$tmp/aria2-leech.log" 30 ||
	fail "aria2c could not download $ih from the node (exit $?; tracker http://$peer/announce)"
cmp -s "$tmp/a-src/shoal-to-aria2.bin" "$tmp/a-out/shoal-to-aria2.bin" || fail "aria2c's copy differs from the published file"
echo "interop: a. aria2c downloaded 8 MiB from the Shoal node with its .torrent in $(( $(now_ms) - t0 )) ms, bytes equal: ok"

# b. aria2c seeds, Shoal downloads from a bare infohash via its tracker.
mkdir -p "$tmp/b-src" "$tmp/b-out"
randfile "$tmp/b-src/aria2-to-shoal.bin" 8
mktorrent -a "http://$peer/announce" -o "$tmp/b.torrent" "$tmp/b-src/aria2-to-shoal.bin" >/dev/null ||
	fail "mktorrent failed"
ihb=$(torrent_infohash "$tmp/b.torrent")
aria2_seed "$tmp/b.torrent" "$tmp/b-src" "$tmp/aria2-seed.log"
wait_seeders "$peer" "$ihb" 1 || fail "aria2c did not announce itself as a seeder to the node's tracker"
t0=$(now_ms)
timeout 30 "$bin" get "$ihb" --data "$tmp/node" --out "$tmp/b-out" >"$tmp/get.log" 2>&1 ||
	fail "shoal get $ihb did not complete from the aria2 seeder (exit $?)"
cmp -s "$tmp/b-src/aria2-to-shoal.bin" "$tmp/b-out/aria2-to-shoal.bin" || fail "the node's copy differs from aria2's file"
echo "interop: b. the Shoal node downloaded 8 MiB from aria2c by infohash in $(( $(now_ms) - t0 )) ms, bytes equal: ok"

# c. aria2c fetches the item of a. from its magnet link alone. Before it has
# the metadata aria2 tells the tracker left=0, as a seeder would.
case $magnet in magnet:\?xt=urn:btih:$ih*) ;; *) fail "shoal publish's last line is not the item's magnet: $magnet" ;; esac
mkdir -p "$tmp/c-out"
t0=$(now_ms)
aria2_leech "$magnet" "$tmp/c-out" "$tmp/aria2-magnet.log" 60 ||
	fail "aria2c could not download $magnet (exit $?)"
cmp -s "$tmp/a-src/shoal-to-aria2.bin" "$tmp/c-out/shoal-to-aria2.bin" || fail "aria2c's copy from the magnet differs from the published file"
echo "interop: c. aria2c downloaded 8 MiB from the Shoal node by its magnet link in $(( $(now_ms) - t0 )) ms, bytes equal: ok"
