#!/usr/bin/env bash
# FTP download of one 256 MiB item, Shoal's library next to vsftpd serving
# the same file from the same disk, both on loopback, fetched by curl to
# /dev/null over EPSV; RUNS runs alternating between the two after one
# warm-up each (the file is in the page cache for both). Prints MiB/s per
# run, then median and range, and the CPU seconds the whole machine used
# per GiB during the downloads (/proc/stat, user + system: the server and
# curl, which is the same for both; the machine's other work too).
#
#   bash cdn/ftp/bench.sh [bin/shoal]     # as root; needs vsftpd and curl
set -euo pipefail
bin=$(realpath "${1:-bin/shoal}")
RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-256}
VSFTPD_PORT=17421
tmp=$(mktemp -d /tmp/ftpbench.XXXXXX)
chmod 755 "$tmp"
cd "$(dirname "$0")/../../.ci"
. ./cdn-lib.sh
vs_pid=
trap '[ -n "$vs_pid" ] && kill "$vs_pid" 2>/dev/null; cleanup' EXIT
command -v vsftpd >/dev/null || { echo "ftp bench: needs vsftpd"; exit 1; }

# Anonymous on both sides: a mail user's login would add a bcrypt check
# (tens of ms) to every Shoal download and to none of vsftpd's.
ip=127.0.0.12
mkdir -p "$tmp/a"
printf '[ftp]\nanonymous = true\n' >"$tmp/a/shoal.toml"
start_node "$tmp/a" "$ip" >/dev/null
ftp=$(service "$tmp/a" ftp)
mkdir -p "$tmp/pub"
randfile "$tmp/pub/big.bin" "$SIZE_MIB"
shoal publish "$tmp/pub/big.bin" --data "$tmp/a" >/dev/null 2>&1

# vsftpd, standalone, anonymous and read-only, rooted at the same folder.
mkdir -p "$tmp/empty"
cat >"$tmp/vsftpd.conf" <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=$VSFTPD_PORT
background=NO
anonymous_enable=YES
anon_root=$tmp/pub
no_anon_password=YES
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_min_port=17430
pasv_max_port=17460
secure_chroot_dir=$tmp/empty
seccomp_sandbox=NO
xferlog_enable=NO
CONF
chown root "$tmp/vsftpd.conf"
vsftpd "$tmp/vsftpd.conf" >"$tmp/vsftpd.log" 2>&1 &
vs_pid=$!
for _ in $(seq 50); do curl -s --max-time 1 "ftp://127.0.0.1:$VSFTPD_PORT/" >/dev/null && break; sleep 0.1; done

cpu() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; } # busy clock ticks, all cores
ticks=$(getconf CLK_TCK)
get() { # url -> MiB/s
	local t0 t1
	t0=$(date +%s%N)
	curl -sS --max-time 120 -o /dev/null "$@" || { echo "ftp bench: curl $* failed" >&2; exit 1; }
	t1=$(date +%s%N)
	echo "$SIZE_MIB $t0 $t1" | awk '{ printf "%.0f", $1 / (($3 - $2) / 1e9) }'
}
shoal_url="ftp://$ftp/big.bin/big.bin"
vs_url="ftp://127.0.0.1:$VSFTPD_PORT/big.bin"
get "$shoal_url" >/dev/null
get "$vs_url" >/dev/null
echo "== FTP download of $SIZE_MIB MiB to /dev/null with curl, $RUNS runs each, alternating; $(vsftpd -v 0>&1 2>&1 | head -n 1 || true)"
s_rates=() v_rates=()
s_cpu=0 v_cpu=0
for i in $(seq "$RUNS"); do
	c0=$(cpu); r=$(get "$shoal_url"); c1=$(cpu)
	s_cpu=$((s_cpu + c1 - c0)); s_rates+=("$r"); echo "shoal   run $i: $r MiB/s"
	c0=$(cpu); r=$(get "$vs_url"); c1=$(cpu)
	v_cpu=$((v_cpu + c1 - c0)); v_rates+=("$r"); echo "vsftpd  run $i: $r MiB/s"
done
summary() { # name cpu_ticks rates...
	local name=$1 t=$2; shift 2
	printf '%s\n' "$@" | sort -n | awk -v name="$name" -v t="$t" -v hz="$ticks" -v runs="$RUNS" -v mib="$SIZE_MIB" '
		{ v[NR] = $1 }
		END { printf "%-7s median %5d MiB/s  range %d-%d  (%d runs)  machine CPU %.2f s/GiB\n", name, v[int((NR+1)/2)], v[1], v[NR], NR, (t / hz) / (runs * mib / 1024) }'
}
summary shoal "$s_cpu" "${s_rates[@]}"
summary vsftpd "$v_cpu" "${v_rates[@]}"
