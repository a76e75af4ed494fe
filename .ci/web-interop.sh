#!/usr/bin/env bash
# The web side with real clients, on loopback, in well under a minute:
#   a. FTP: a node publishes a folder and a file; curl lists the library and
#      downloads the file (over EPSV, and over AUTH TLS), resumes a partial
#      copy, and is refused an upload; lftp mirrors the folder.
#   b. Proxy: a second node joins; curl, with the second node's proxy, gets
#      the first node's published page by its .shoal name (a miss, then a
#      hit from the cache), and gets 403 for CONNECT to a port not allowed;
#   c. Site: the folder published as www.NAME.shoal is read through the
#      second node's proxy by its name.
# Bytes are compared. Every process and temp file is gone on exit.
set -euo pipefail
bin=$(realpath "${1:-bin/shoal}")
tmp=$(mktemp -d)
cd "$(dirname "$0")"
. ./cdn-lib.sh
trap cleanup EXIT
trap "exit 1" INT TERM HUP
fail() {
	echo "web-interop: FAIL: $*" >&2
	for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2; }; done
	exit 1
}
for tool in curl lftp cmp; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (make test installs it)"
done

ip=${WEB_INTEROP_IP:-127.0.0.11}
start_node "$tmp/a" "$ip" || fail "the Shoal node did not start"
ftp=$(service "$tmp/a" ftp)
[ -n "$ftp" ] || fail "shoal status shows no ftp service"
user=$(shoal mail user ls --data "$tmp/a" | head -n 1 | cut -d@ -f1)
pass=web-interop-password
echo "$pass" | shoal mail user passwd "$user" --password-stdin --data "$tmp/a" >/dev/null || fail "could not set $user's password"

mkdir -p "$tmp/site/css" "$tmp/out"
echo '<h1>site</h1>' >"$tmp/site/index.html"
echo 'h1 { color: teal }' >"$tmp/site/css/a.css"
randfile "$tmp/big.bin" 24
site_ih=$(publish "$tmp/a" "$tmp/site")
[ -n "$site_ih" ] || fail "shoal publish (folder) failed"
timeout 30 "$bin" publish "$tmp/big.bin" --data "$tmp/a" >/dev/null 2>&1 || fail "shoal publish (file) failed"

# a. FTP
url="ftp://$ftp"
list=$(curl -sS --max-time 20 --list-only -u "$user:$pass" "$url/") || fail "curl could not list $url/"
[ "$(echo $list)" = "big.bin site" ] || fail "the FTP root lists '$(echo $list)', not 'big.bin site'"
curl -sS --max-time 60 -u "$user:$pass" -o "$tmp/out/big.bin" "$url/big.bin/big.bin" || fail "curl could not download big.bin"
cmp -s "$tmp/big.bin" "$tmp/out/big.bin" || fail "curl's FTP copy of big.bin differs"
curl -sS --max-time 60 --ssl-reqd -k -u "$user:$pass" -o "$tmp/out/tls.bin" "$url/big.bin/big.bin" || fail "curl over AUTH TLS failed"
cmp -s "$tmp/big.bin" "$tmp/out/tls.bin" || fail "the AUTH TLS copy differs"
head -c 5000000 "$tmp/big.bin" >"$tmp/out/part.bin"
curl -sS --max-time 60 -C - -u "$user:$pass" -o "$tmp/out/part.bin" "$url/big.bin/big.bin" || fail "curl could not resume (REST)"
cmp -s "$tmp/big.bin" "$tmp/out/part.bin" || fail "the resumed copy differs"
if curl -sS --max-time 20 -u "$user:$pass" -T "$tmp/site/index.html" "$url/site/up.html" 2>"$tmp/up.err"; then
	fail "an FTP upload was accepted"
fi
grep -q 550 "$tmp/up.err" || fail "an FTP upload was not refused with 550: $(cat "$tmp/up.err")"
timeout 60 lftp -c "set net:max-retries 1; set net:timeout 10; set ftp:ssl-allow no; open -u $user,$pass $url; mirror site $tmp/out/site" >"$tmp/lftp.log" 2>&1 ||
	fail "lftp mirror failed: $(cat "$tmp/lftp.log")"
diff -r "$tmp/site" "$tmp/out/site" >/dev/null || fail "lftp's mirror of site differs"
echo "web-interop: a. FTP on $ftp: curl listed, downloaded 24 MiB (plain and AUTH TLS), resumed, was refused an upload (550); lftp mirrored the folder: ok"

# b. Proxy
peer_a=$(service "$tmp/a" peer)
start_node "$tmp/b" 127.0.0.12 --join "$peer_a" || fail "the second node did not start"
wait_members "$tmp/b" 2 || fail "the second node did not join"
proxy=$(service "$tmp/b" proxy)
[ -n "$proxy" ] || fail "shoal status shows no proxy service"
name_a=n127-0-0-11.shoal
page="http://$name_a/cdn/$site_ih/index.html"
for i in 1 2 3 4 5 6 7 8 9 10; do
	curl -sS --max-time 20 -x "http://$proxy" -D "$tmp/h1" -o "$tmp/out/page1.html" "$page" && [ -s "$tmp/out/page1.html" ] && break
	sleep 0.5 # the name reaches b's zone with the first gossip
done
cmp -s "$tmp/site/index.html" "$tmp/out/page1.html" || fail "the page through b's proxy differs: $(cat "$tmp/h1")"
curl -sS --max-time 20 -x "http://$proxy" -D "$tmp/h2" -o "$tmp/out/page2.html" "$page" || fail "the second request through the proxy failed"
cmp -s "$tmp/site/index.html" "$tmp/out/page2.html" || fail "the cached page differs"
grep -qi '^cache-status:.*hit' "$tmp/h2" || fail "the second request was not a cache hit: $(cat "$tmp/h2")"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_connect}' -x "http://$proxy" -p "https://127.0.0.1:22/" 2>/dev/null || true)
[ "$code" = 403 ] || fail "CONNECT to port 22 through the proxy got $code, not 403"
echo "web-interop: b. proxy on $proxy: curl got $name_a's page from the group (a miss, then a cache hit); CONNECT to port 22 refused (403): ok"

# c. A site: the folder named www.NAME.shoal on a, read through b's proxy by its name.
timeout 30 "$bin" site publish "$tmp/site" --data "$tmp/a" >"$tmp/site.out" 2>&1 || fail "shoal site publish failed: $(cat "$tmp/site.out")"
site="http://www.$name_a"
for i in $(seq 40); do
	curl -sS --max-time 20 -x "http://$proxy" -o "$tmp/out/site.html" "$site/" 2>/dev/null && cmp -s "$tmp/site/index.html" "$tmp/out/site.html" && break
	sleep 0.25 # the name reaches b with the next gossip
done
cmp -s "$tmp/site/index.html" "$tmp/out/site.html" || fail "www.$name_a/ through b's proxy is not the site's index.html"
curl -sS --max-time 20 -x "http://$proxy" -o "$tmp/out/a.css" "$site/css/a.css" || fail "the site's stylesheet failed"
cmp -s "$tmp/site/css/a.css" "$tmp/out/a.css" || fail "the site's stylesheet differs"
code=$(curl -s --max-time 20 -x "http://$proxy" -o /dev/null -w '%{http_code} %{redirect_url}' "$site/css")
[ "$code" = "301 $site/css/" ] || fail "$site/css answered '$code', not a 301 to $site/css/"
echo "web-interop: c. the site www.$name_a through b's proxy: index.html, a stylesheet, 301 to the trailing slash: ok"
