#!/bin/sh
# Mail end to end between two Shoal nodes (processes on 127.0.0.2 and
# 127.0.0.3): a submission on one until an IMAP IDLE client on the other
# sees EXISTS, N messages one at a time (e2ebench), RUNS runs with fresh
# nodes; prints each run, then the median and range of the runs' medians
# and p99s. Target: median < 50 ms.
#
# Run from the module root; BIN is a built shoal (make build), else built here.
#
#   sh mail/bench/e2e.sh bin/shoal        # N=200 RUNS=5
#   N=50 RUNS=3 sh mail/bench/e2e.sh
set -eu
N=${N:-200}
RUNS=${RUNS:-5}
work=$(mktemp -d /tmp/e2ebench.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
bin=${1:-}
if [ -z "$bin" ]; then
	bin=$work/shoal
	go build -tags migrated_fynedo -o "$bin" .
fi
go build -o "$work/e2ebench" ./mail/bench/e2ebench

echo "== mail end to end, $N messages a run, $RUNS runs, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
	"$work/e2ebench" -shoal "$bin" -n "$N" | tee -a "$work/runs"
done
grep '^end to end' "$work/runs" | sed 's/.*median \([0-9.]*\) ms, p99 \([0-9.]*\) ms.*/\1 \2/' |
	awk '{ med[NR] = $1; p99[NR] = $2 }
	function mid(a, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return a[int((n + 1) / 2)] " ms (" a[1] "–" a[n] ")"
	}
	END { printf "== end to end over %d runs: median %s, p99 %s\n", NR, mid(med, NR), mid(p99, NR) }'
