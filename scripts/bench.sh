#!/usr/bin/env bash
# make bench: figures for what checkpointing costs.
#  1. Go micro-benchmarks of the image code (encode/decode throughput).
#  2. Dump and restore of a process holding $BENCH_MIB MiB (default 1024) of
#     touched anonymous memory, images in tmpfs (/dev/shm), $BENCH_RUNS runs
#     (default 5): dump wall time, freeze time (from stats-dump) and GB/s,
#     restore wall time and GB/s, as medians with the range.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
RUNS=${BENCH_RUNS:-5}
MIB=${BENCH_MIB:-1024}

echo "== Go benchmarks"
go test -run='^$' -bench=. -benchtime=1x -count=1 ./pkg/... 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)' || true

if [ "$(id -u)" != 0 ]; then
	echo "== dump/restore benchmark skipped: needs root"
	exit 0
fi

work=$(mktemp -d /tmp/criugo-bench.XXXXXX)
img=/dev/shm/criugo-bench.$$
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
	rm -rf "$work" "$img"
}
trap cleanup EXIT
gcc -O2 -o "$work/memhog" scripts/bench/memhog.c

ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
range() { sort -n | awk 'NR==1{lo=$1} {hi=$1} END {printf "%d-%d", lo, hi}'; }

: >"$work/dump"; : >"$work/freeze"; : >"$work/restore"
for i in $(seq "$RUNS"); do
	rm -f "$work/pid" "$work/out"
	setsid "$work/memhog" "$MIB" "$work/pid" "$work/out" </dev/null >/dev/null 2>&1 &
	pid=$!
	while [ ! -s "$work/pid" ]; do sleep 0.05; done
	rm -rf "$img"; mkdir "$img"
	t0=$(ns)
	"$BIN/criu-seize" -t "$pid" | "$BIN/criu-parasite" -D "$img"
	t1=$(ns)
	echo $(((t1 - t0) / 1000)) >>"$work/dump"
	# frozen_time is in microseconds, as CRIU's stats image has it.
	"$BIN/crit" decode -i "$img/stats-dump" | grep -o '"frozen_time": [0-9]*' | grep -o '[0-9]*$' >>"$work/freeze" || echo 0 >>"$work/freeze"
	wait "$pid" 2>/dev/null || true
	pid=
	t2=$(ns)
	"$BIN/criu-restore" -D "$img" -d --pidfile "$work/rpid"
	t3=$(ns)
	echo $(((t3 - t2) / 1000)) >>"$work/restore"
	pid=$(cat "$work/rpid")
	kill -TERM "$pid"
	for _ in $(seq 100); do [ -s "$work/out" ] && break; sleep 0.1; done
	if [ "$(cat "$work/out" 2>/dev/null)" != PASS ]; then
		echo "bench: run $i: restored memhog says: $(cat "$work/out" 2>/dev/null || echo nothing)" >&2
		exit 1
	fi
	pid=
done

gbps() { awk -v mib="$MIB" -v us="$1" 'BEGIN { if (us > 0) printf "%.2f", mib * 1048576 / (us * 1000); else print "n/a" }'; }
d=$(median <"$work/dump"); f=$(median <"$work/freeze"); r=$(median <"$work/restore")
echo "== dump/restore of $MIB MiB of touched anonymous memory into tmpfs, $RUNS runs (median, range)"
printf 'dump:     wall %d ms (%s ms), frozen %d ms, %s GB/s\n' $((d / 1000)) "$(awk '{print int($1/1000)}' "$work/dump" | range)" $((f / 1000)) "$(gbps "$d")"
printf 'restore:  wall %d ms (%s ms), %s GB/s\n' $((r / 1000)) "$(awk '{print int($1/1000)}' "$work/restore" | range)" "$(gbps "$r")"
