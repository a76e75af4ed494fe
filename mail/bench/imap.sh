#!/bin/sh
# Shoal's imapd next to Dovecot on one INBOX of N generated messages (default
# 10,000): FETCH 1:* (ENVELOPE FLAGS) and UID SEARCH BODY, the same client
# (imapbench, go-imap's imapclient) and the same messages (APPENDed to
# both), median and range of RUNS runs after one warm-up run, the runs
# alternating between the two servers.
#
# Needs Go and dovecot-imapd (Debian). Run from the module root as root:
# Dovecot runs on 127.0.0.1 with a minimal config in a temporary directory,
# not as a system service, keeping the mail as its "dovecot" user. Only loopback addresses are used.
#
#   sh mail/bench/imap.sh            # N=10000 RUNS=5
#   N=2000 RUNS=3 sh mail/bench/imap.sh
set -eu
N=${N:-10000}
RUNS=${RUNS:-5}
SHOAL_ADDR=127.0.0.1:17143
DOVECOT_PORT=17144
PASS=bench-password

work=$(mktemp -d /tmp/imapbench.XXXXXX)
shoal_pid=
cleanup() {
	[ -n "$shoal_pid" ] && kill "$shoal_pid" 2>/dev/null && wait "$shoal_pid" 2>/dev/null || true
	[ -f "$work/dovecot.conf" ] && dovecot -c "$work/dovecot.conf" stop 2>/dev/null || true
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o "$work/imapbench" ./mail/bench/imapbench

# Dovecot will not deliver as root: the mail belongs to its own "dovecot" user.
chmod 755 "$work"
mkdir -p "$work/dovecot/home"
chown dovecot:dovecot "$work/dovecot/home"
cat >"$work/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $work/dovecot/run
state_dir = $work/dovecot/state
log_path = $work/dovecot/log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
passdb {
  driver = static
  args = password=$PASS
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$work/dovecot/home/%u
}
mail_location = maildir:~/Maildir
# Only to fill it faster on a busy machine; reads do not depend on it, and
# the fill rates printed are not a comparison.
mail_fsync = never
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
dovecot -c "$work/dovecot.conf"

"$work/imapbench" -serve "$work/shoal.db" -listen $SHOAL_ADDR -pass $PASS &
shoal_pid=$!

echo "== filling both with $N messages"
printf 'shoal:   '; "$work/imapbench" -addr $SHOAL_ADDR -pass $PASS -populate "$N"
printf 'dovecot: '; "$work/imapbench" -addr 127.0.0.1:$DOVECOT_PORT -pass $PASS -populate "$N"

echo "== $(go env GOVERSION), dovecot $(dovecot --version | cut -d' ' -f1); runs alternate between the servers"
"$work/imapbench" -addr shoal=$SHOAL_ADDR,dovecot=127.0.0.1:$DOVECOT_PORT -pass $PASS -runs "$RUNS"
