#!/usr/bin/env bash
# Mail with real mail programs from Debian, between two Shoal nodes run as
# processes on 127.0.0.2 and 127.0.0.3 (loopback, under a minute):
#   a. swaks submits with AUTH PLAIN over STARTTLS to alice's node, for bob
#      on the other node (and a second, unread message);
#   b. curl reads the message on bob's node over IMAP and over POP3, both
#      with STARTTLS required (--ssl-reqd);
#   c. mbsync (isync) syncs bob's INBOX to a Maildir and back: the read state
#      from the server reaches the Maildir, a message read and one written
#      in the Maildir reach the server, and \Seen is kept both ways.
# alice's password is the one the node printed on its first start; bob's is
# set with `shoal mail user passwd --password-stdin`. Exits non-zero with the
# step that failed; every process and temp file is gone on exit.
set -euo pipefail
bin=$(realpath "${1:-bin/shoal}")
tmp=$(mktemp -d)
cd "$(dirname "$0")"
. ./cdn-lib.sh
trap cleanup EXIT
trap "exit 1" INT TERM HUP
fail() {
	echo "mail-interop: FAIL: $*" >&2
	for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2; }; done
	exit 1
}
for tool in swaks curl mbsync openssl; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (make test installs swaks, curl and isync)"
done
started=$(now_ms)

ipa=${MAIL_INTEROP_IP_A:-127.0.0.2}
ipb=${MAIL_INTEROP_IP_B:-127.0.0.3}
# start_node names a node after its address; its mail domain is NAME.shoal.
doma="n${ipa//./-}.shoal" domb="n${ipb//./-}.shoal"
for n in a:alice b:bob; do
	mkdir -p "$tmp/${n%%:*}"
	# Queue retries in milliseconds rather than minutes: the first attempt may
	# come before the other node's ports have spread.
	printf '[mail]\nuser = "%s"\nretry_scale = 0.001\n' "${n#*:}" >"$tmp/${n%%:*}/shoal.toml"
done
start_node "$tmp/a" "$ipa" || fail "alice's node did not start"
start_node "$tmp/b" "$ipb" --join "$(service "$tmp/a" peer)" || fail "bob's node did not start"
wait_members "$tmp/a" 2 || fail "the nodes did not see each other"
wait_members "$tmp/b" 2 || fail "the nodes did not see each other"

apass=$(sed -n "s/^Mail: your address is alice@$doma, password \([^ ]*\)$/\1/p" "$tmp/a.log")
[ -n "$apass" ] || fail "alice's node printed no first password"
bpass="bob's interop password"
printf '%s\n' "$bpass" | shoal mail user passwd bob --password-stdin --data "$tmp/b" >/dev/null ||
	fail "shoal mail user passwd bob --password-stdin"
submission=$(service "$tmp/a" submission)
imap=$(service "$tmp/b" imap)
pop3=$(service "$tmp/b" pop3)
[ -n "$submission" ] && [ -n "$imap" ] && [ -n "$pop3" ] || fail "shoal status lists no mail servers"
echo "mail-interop: alice@$doma (submission $submission), bob@$domb (IMAP $imap, POP3 $pop3)"

# a. swaks: AUTH PLAIN after STARTTLS (--tls fails if STARTTLS does).
send() {
	swaks --server "${submission%:*}" --port "${submission##*:}" --tls --auth PLAIN \
		--auth-user alice --auth-password "$apass" --from "alice@$doma" --to "bob@$domb" \
		--header "Subject: $1" --body "$2" --timeout 20 >"$tmp/swaks-$1.log" 2>&1 ||
		fail "swaks could not submit '$1' (see swaks-$1.log)"
	grep -Eq '^<~? +250 .*queued' "$tmp/swaks-$1.log" || fail "swaks got no 250 queued for '$1'"
}
send interop-one "Read me over IMAP, POP3 and mbsync."
send interop-two "Left unread."
echo "mail-interop: swaks submitted two messages over STARTTLS with AUTH PLAIN"

# b. curl over IMAP and POP3, STARTTLS required (-k: the node's certificate
# is made from its key, not signed by a CA).
curlmail() { curl -sS --max-time 10 --ssl-reqd -k -u "bob:$bpass" "$@"; }
uids() { curlmail "imap://$imap/INBOX" -X "UID SEARCH $1" | sed -n 's/^\* SEARCH *//p' | tr -d '\r'; }
for _ in $(seq 200); do
	[ "$(uids ALL | wc -w)" -ge 2 ] && break
	sleep 0.1
done
[ "$(uids ALL | wc -w)" = 2 ] || fail "bob's INBOX holds '$(uids ALL)' after 20 s, want two messages"
one=$(uids 'SUBJECT interop-one')
[ -n "$one" ] || fail "no interop-one in bob's INBOX"
curlmail "imap://$imap/INBOX;UID=$one" >"$tmp/imap-one.eml" || fail "curl could not FETCH over IMAP"
grep -q '^Subject: interop-one' "$tmp/imap-one.eml" || fail "the IMAP copy has no subject"
grep -q '^Read me over IMAP' "$tmp/imap-one.eml" || fail "the IMAP copy has no body"
grep -q "dkim=pass header.d=$doma" "$tmp/imap-one.eml" || fail "bob's node did not verify alice's DKIM signature"
echo "mail-interop: curl read interop-one over IMAP (dkim=pass)"

curlmail "pop3://$pop3/" >"$tmp/pop3-list.txt" || fail "curl POP3 LIST"
[ "$(grep -c . "$tmp/pop3-list.txt")" = 2 ] || fail "POP3 LIST: $(cat "$tmp/pop3-list.txt")"
found=0
for i in 1 2; do
	curlmail "pop3://$pop3/$i" >"$tmp/pop3-$i.eml" || fail "curl POP3 RETR $i"
	grep -q '^Subject: interop-one' "$tmp/pop3-$i.eml" && grep -q '^Read me over IMAP' "$tmp/pop3-$i.eml" && found=1
done
[ "$found" = 1 ] || fail "POP3 did not give interop-one"
echo "mail-interop: curl read it over POP3"

# Set the read state on the server for the mbsync part: interop-one seen,
# interop-two not (whatever the FETCH above did).
two=$(uids 'SUBJECT interop-two')
curlmail "imap://$imap/INBOX" -X "UID STORE $one +FLAGS (\\Seen)" >/dev/null || fail "curl UID STORE"
curlmail "imap://$imap/INBOX" -X "UID STORE $two -FLAGS (\\Seen)" >/dev/null || fail "curl UID STORE"

# c. mbsync both ways over STARTTLS; the node's certificate is trusted as is.
openssl s_client -starttls imap -connect "$imap" -servername "$domb" </dev/null 2>/dev/null |
	openssl x509 >"$tmp/imap-cert.pem" || fail "openssl could not read the IMAP certificate"
mkdir -p "$tmp/maildir"
cat >"$tmp/mbsyncrc" <<EOF
IMAPAccount bob
Host ${imap%:*}
Port ${imap##*:}
User bob
Pass "$bpass"
SSLType STARTTLS
CertificateFile $tmp/imap-cert.pem

IMAPStore remote
Account bob

MaildirStore local
Path $tmp/maildir/
Inbox $tmp/maildir/INBOX

Channel bob
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
Sync All
EOF
sync_all() { HOME=$tmp timeout 30 mbsync -c "$tmp/mbsyncrc" -a >>"$tmp/mbsync.log" 2>&1 || fail "mbsync failed (see mbsync.log)"; }
# maildir_flags SUBJECT: the Maildir flags of the message with SUBJECT.
maildir_flags() {
	local f
	f=$(grep -l "^Subject: $1" "$tmp"/maildir/INBOX/{cur,new}/* 2>/dev/null | head -1)
	[ -n "$f" ] || { echo missing; return; }
	case $f in *:2,*) echo "${f##*:2,}" ;; *) echo "" ;; esac
}
maildir_count() { find "$tmp/maildir/INBOX/cur" "$tmp/maildir/INBOX/new" -type f | wc -l; }
sync_all
[ "$(maildir_count)" = 2 ] || fail "the Maildir does not hold the two messages"
[[ $(maildir_flags interop-one) == *S* ]] || fail "\\Seen of interop-one did not reach the Maildir ($(maildir_flags interop-one))"
[[ $(maildir_flags interop-two) != *S* ]] || fail "interop-two is seen in the Maildir"
echo "mail-interop: mbsync pulled both messages, \\Seen as on the server"

# Read interop-two locally and write a message offline; sync again.
f=$(grep -l '^Subject: interop-two' "$tmp"/maildir/INBOX/{cur,new}/*)
base=$(basename "$f")
mv "$f" "$tmp/maildir/INBOX/cur/${base%%:2,*}:2,S"
printf 'From: bob@%s\r\nTo: bob@%s\r\nSubject: written offline\r\nMessage-ID: <offline@%s>\r\n\r\nhello\r\n' \
	"$domb" "$domb" "$domb" >"$tmp/maildir/INBOX/new/1700000000.offline.host"
sync_all
[ "$(uids ALL | wc -w)" = 3 ] || fail "bob's INBOX holds '$(uids ALL)' after the second sync, want three"
[ -n "$(uids 'SUBJECT "written offline"')" ] || fail "the offline message did not reach the server"
[ "$(uids UNSEEN)" = "$(uids 'SUBJECT "written offline"')" ] ||
	fail "unseen on the server: '$(uids UNSEEN)', want only the offline message"
[ "$(uids SEEN | wc -w)" = 2 ] || fail "seen on the server: '$(uids SEEN)', want interop-one and interop-two"
sync_all # a sync with nothing to do changes nothing
[ "$(uids ALL | wc -w)" = 3 ] || fail "an idle sync changed the server's INBOX"
[ "$(maildir_count)" = 3 ] || fail "an idle sync changed the Maildir"
echo "mail-interop: mbsync pushed the local read state and the offline message, \\Seen kept both ways"

echo "mail-interop: OK in $(( ($(now_ms) - started) / 1000 )) s"
