#!/bin/sh
# Packaging through streaming/packager next to the bare ffmpeg command it runs
# (the same arguments, printed by the program): a 20 s 720p30 clip with audio,
# RUNS runs of each (default 5), alternating which goes first; prints each
# run's wall and CPU time and the median and range.
#
#   streaming/packager/bench.sh            # from anywhere in the module
#   RUNS=9 PRESET=ultrafast streaming/packager/bench.sh
set -eu
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
ffmpeg -hide_banner -v error -nostdin \
	-f lavfi -i testsrc2=size=1280x720:rate=30:duration=20 \
	-f lavfi -i sine=frequency=440:sample_rate=48000:duration=20 \
	-c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p \
	-c:a aac -b:a 192k -ac 2 "$work/clip-720p30.mp4"
go build -o "$work/packagebench" ./streaming/packager/cmd/packagebench
"$work/packagebench" -src "$work/clip-720p30.mp4" -runs "${RUNS:-5}" -preset "${PRESET:-veryfast}"
