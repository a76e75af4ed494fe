#!/bin/sh
# publish-video-bench.sh: `shoal publish --video` next to the bare ffmpeg
# command of the same ladder, in the same run, alternating which goes
# first. Each shoal run uses a fresh node (a new data dir), so nothing is
# reused; its time includes probing, hashing the source, packaging, checking
# and publishing (hashing the result). Prints each run and the ratio of the
# medians.
#
#   RUNS=3 .ci/publish-video-bench.sh     (from the repository's root)
set -eu
runs=${RUNS:-3}
work=$(mktemp -d)
node_pid=
cleanup() {
	[ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -tags migrated_fynedo -o "$work/shoal" .
clip="$work/clip.mp4"
ffmpeg -hide_banner -v error -nostdin -f lavfi -i testsrc2=size=1280x720:rate=30:duration=20 \
	-f lavfi -i sine=frequency=440:sample_rate=48000:duration=20 -ac 2 -c:a aac \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$clip"
# The bare command: what packagebench prints (OUT is the output folder).
cmd=$(go run ./streaming/packager/cmd/packagebench -src "$clip" -runs 1 | sed -n 's/^  ffmpeg //p')

now() { date +%s.%N; }
# since T0 prints the seconds since T0.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
bare() {
	out="$work/bare"
	rm -rf "$out"
	mkdir -p "$out"
	t0=$(now)
	eval "ffmpeg $(printf '%s' "$cmd" | sed "s|OUT|$out|g")" >/dev/null 2>&1
	since "$t0"
}
shoal() {
	data="$work/data-$1"
	"$work/shoal" node --data "$data" --ui 127.0.0.1:0 --peer-port 0 --bittorrent-port 0 --dns-port 0 \
		--smtp-port 0 --submission-port 0 --imap-port 0 --pop3-port 0 >"$work/node-$1.log" 2>&1 &
	node_pid=$!
	i=0
	until grep -q 'login?code=' "$work/node-$1.log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 200 ] && { echo "the node did not start" >&2; cat "$work/node-$1.log" >&2; exit 1; }
		sleep 0.1
	done
	t0=$(now)
	if ! "$work/shoal" publish --video "$clip" --data "$data" >"$work/publish.log" 2>&1; then
		echo "shoal publish --video failed:" >&2
		tail -5 "$work/publish.log" >&2
		exit 1
	fi
	t=$(since "$t0")
	kill "$node_pid"
	wait "$node_pid" 2>/dev/null || true
	node_pid=
	rm -rf "$data"
	echo "$t"
}

b=""
s=""
for r in $(seq 1 "$runs"); do
	if [ $((r % 2)) -eq 1 ]; then
		tb=$(bare); ts=$(shoal "$r")
	else
		ts=$(shoal "$r"); tb=$(bare)
	fi
	printf 'run %d  bare ffmpeg %6.2f s  shoal publish --video %6.2f s\n' "$r" "$tb" "$ts"
	b="$b $tb"
	s="$s $ts"
done
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mb=$(median "$b")
ms=$(median "$s")
printf 'medians: bare ffmpeg %.2f s, shoal publish --video %.2f s, ratio %.3f\n' "$mb" "$ms" "$(awk -v a="$ms" -v b="$mb" 'BEGIN { print a / b }')"
