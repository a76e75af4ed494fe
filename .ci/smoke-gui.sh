#!/usr/bin/env bash
# Smoke test of the real binary: start `shoal` under Xvfb, wait until its
# window "Shoal" is mapped and has drawn (the screen holds many colours),
# check the node answers `shoal status`, then stop it with SIGTERM and
# expect a clean exit. SHOT=path keeps the screenshot.
set -euo pipefail
bin=$(realpath "${1:-bin/shoal}")
tmp=$(mktemp -d)
disp=":$((100 + RANDOM % 400))"
spid="" xpid=""
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null || true
	[ -n "$xpid" ] && kill "$xpid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "smoke: $*" >&2; echo "--- shoal output:" >&2; cat "$tmp/out" >&2 || true; exit 1; }

Xvfb "$disp" -screen 0 1280x800x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
xpid=$!
for _ in $(seq 100); do xdpyinfo -display "$disp" >/dev/null 2>&1 && break; sleep 0.1; done
xdpyinfo -display "$disp" >/dev/null 2>&1 || fail "Xvfb did not start"

DISPLAY="$disp" "$bin" --data "$tmp/data" --ui 127.0.0.1:0 --peer-port 0 --bittorrent-port 0 --dns-port 0 --smtp-port 0 --submission-port 0 --imap-port 0 --pop3-port 0 --proxy-port 0 >"$tmp/out" 2>&1 &
spid=$!

for _ in $(seq 300); do
	DISPLAY="$disp" xwininfo -root -tree 2>/dev/null | grep -q '"Shoal"' && break
	kill -0 "$spid" 2>/dev/null || fail "shoal exited before its window appeared"
	sleep 0.1
done
DISPLAY="$disp" xwininfo -root -tree | grep -q '"Shoal"' || fail "no window named Shoal"

colours=0
for _ in $(seq 150); do
	import -display "$disp" -window root "$tmp/shot.png" 2>/dev/null || true
	colours=$(identify -format '%k' "$tmp/shot.png" 2>/dev/null || echo 0)
	[ "$colours" -gt 64 ] && break
	sleep 0.2
done
[ "$colours" -gt 64 ] || fail "the window did not draw (screen has $colours colours)"
[ -n "${SHOT:-}" ] && cp "$tmp/shot.png" "$SHOT"

"$bin" status --data "$tmp/data" | grep -q '^name' || fail "shoal status did not answer"

kill -TERM "$spid"
code=0
wait "$spid" || code=$?
spid=""
[ "$code" = 0 ] || fail "shoal exited with status $code after SIGTERM"
grep -q "node stopping" "$tmp/out" || fail "the node did not stop cleanly"
echo "smoke: window drew ($colours colours), status answered, clean exit: ok"
