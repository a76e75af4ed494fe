#!/usr/bin/env bash
# Sites through the proxy of a member that does not hold them, on loopback:
#  1. time to first byte of a site's page through the other member's proxy,
#     its cache emptied before each sample (curl, RUNS samples);
#  2. the time headless Chromium takes to load a 20-file site (a page, a
#     stylesheet, a script and 17 images) through that proxy: cold (the
#     proxy's cache emptied) and warm (the proxy's cache full), each with a
#     new browser profile, so the browser's own cache is empty: the page's
#     own navigation timing, from the start of the navigation to its load
#     event (every file loaded), which the page writes into its DOM.
# Prints each sample, then median and range.
#   bash cdn/web/sites-bench.sh [bin/shoal]      # needs curl and chromium
set -euo pipefail
bin=$(realpath "${1:-bin/shoal}")
RUNS=${RUNS:-5}
tmp=$(mktemp -d)
cd "$(dirname "$0")/../../.ci"
. ./cdn-lib.sh
trap cleanup EXIT
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "sites bench: needs chromium"; exit 1; }

start_node "$tmp/a" 127.0.0.21 >/dev/null
start_node "$tmp/b" 127.0.0.22 --join "$(service "$tmp/a" peer)" >/dev/null
wait_members "$tmp/b" 2
proxy=$(service "$tmp/b" proxy)
mkdir -p "$tmp/site/img"
{
	echo '<!doctype html><html><head><title>Bench site</title><link rel="stylesheet" href="style.css"><script src="app.js"></script></head>'
	echo '<body onload="document.body.dataset.loadMs = Math.round(performance.getEntriesByType(&quot;navigation&quot;)[0].loadEventStart)"><h1>Bench</h1>'
	for i in $(seq 17); do echo "<img src=\"img/$i.png\" width=\"32\" height=\"32\" alt=\"$i\">"; done
	echo '</body></html>'
} >"$tmp/site/index.html"
echo 'body { font-family: sans-serif }' >"$tmp/site/style.css"
echo 'document.title += " (js)";' >"$tmp/site/app.js"
for i in $(seq 17); do head -c 20000 /dev/urandom >"$tmp/site/img/$i.png"; done
shoal site publish "$tmp/site" --name bench --data "$tmp/a" >/dev/null 2>&1
url="http://bench.n127-0-0-21.shoal/"
for _ in $(seq 80); do
	curl -s --max-time 5 -x "http://$proxy" -o /dev/null -w '%{http_code}' "$url" 2>/dev/null | grep -q 200 && break
	sleep 0.25
done

summary() { # name unit values...
	local name=$1 unit=$2; shift 2
	printf '%s\n' "$@" | sort -n | awk -v name="$name" -v unit="$unit" '
		{ v[NR] = $1 }
		END { printf "%-34s median %8.1f %s  range %.1f-%.1f  (%d samples)\n", name, v[int((NR+1)/2)], unit, v[1], v[NR], NR }'
}
purge() { shoal proxy purge --all --data "$tmp/b" >/dev/null; }

ttfb=()
for i in $(seq "$RUNS"); do
	purge
	t=$(curl -s --max-time 10 -x "http://$proxy" -o /dev/null -w '%{time_starttransfer}' "$url" | awk '{ printf "%.1f", $1 * 1000 }')
	echo "ttfb run $i: $t ms"; ttfb+=("$t")
done

load() { # url -> the page's load time in ms, from a headless Chromium --dump-dom run
	local profile ms
	profile=$(mktemp -d "$tmp/profile.XXXX")
	timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$profile" --proxy-server="http://$proxy" --dump-dom "$1" >"$tmp/dom.html" 2>/dev/null || true
	ms=$(grep -o 'data-load-ms="[0-9]*"' "$tmp/dom.html" | grep -o '[0-9]*')
	[ -n "$ms" ] || { echo "sites bench: Chromium did not load the site" >&2; exit 1; }
	echo "$ms"
}
cold=() warm=()
for i in $(seq "$RUNS"); do
	purge
	c=$(load "$url")
	w=$(load "$url")
	cold+=("$c"); warm+=("$w")
	echo "chromium run $i: site cold $c ms, warm $w ms"
done
echo "== sites through the proxy of a member that does not hold them; $($chromium --version 2>/dev/null)"
summary "ttfb, proxy cache empty" ms "${ttfb[@]}"
summary "chromium 20-file site, cold" ms "${cold[@]}"
summary "chromium 20-file site, warm" ms "${warm[@]}"
