#!/usr/bin/env bash
# make bench: figures for what checkpointing costs.
#  1. Go benchmarks: image code (pagemap encode/decode, page plan), the
#     dump's pages write path, the restore's page fill, injected syscalls.
#  2. Dump and restore of a process holding $BENCH_MIB MiB (default 1024) of
#     touched anonymous memory, images in tmpfs (/dev/shm), $BENCH_RUNS runs
#     (default 5), each checked by the process itself after the restore:
#     dump wall time and stats-dump's times (freezing, frozen, memdump,
#     memwrite; see pkg/dump's dumpStats) and page counts, restore wall
#     time, GB/s; medians with the range.
#  3. The same process through the pipe criu-seize | criu-parasite |
#     criu-restore (live migration on one machine), unless BENCH_PIPE=0.
#  4. Unless BENCH_PREDUMP=0, an incremental dump: criu-parasite
#     --pre-dump of the process, which then writes every tenth page again,
#     and a final dump with --prev-images-dir: the wall and frozen time
#     of both dumps, and the restore of the chain.
#  5. The same dump and restore with CRIU itself, for comparison on this
#     machine, when BENCH_CRIU names a CRIU binary (default:
#     build/criu-4.2.1/criu if scripts/build-criu.sh built it).
#  6. For reference, how long memhog's own first write of its memory took
#     (a page fault per fresh page): on this VM it varies 5-fold from run
#     to run, which puts the spread of the other figures in context.
# BENCH_GO=0 skips the Go benchmarks; BENCH_TIME is their -benchtime.
# BENCH_BIN runs the tools of another build (default: bin/ of this tree).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BENCH_BIN:-$PWD/bin}
RUNS=${BENCH_RUNS:-5}
MIB=${BENCH_MIB:-1024}
CRIU=${BENCH_CRIU:-}
[ -z "$CRIU" ] && [ -x build/criu-4.2.1/criu ] && CRIU=$PWD/build/criu-4.2.1/criu

if [ "${BENCH_GO:-1}" != 0 ]; then
	echo "== Go benchmarks"
	go test -run='^$' -bench=. -benchtime="${BENCH_TIME:-300ms}" -count=1 ./pkg/... 2>&1 |
		grep -E '^(Benchmark|FAIL|---|panic)' || true
fi

if [ "$(id -u)" != 0 ]; then
	echo "== dump/restore benchmark skipped: needs root"
	exit 0
fi
for b in criu-seize criu-parasite criu-restore crit; do
	[ -x "$BIN/$b" ] || { echo "bench: $BIN/$b missing: run make build" >&2; exit 1; }
done

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
# median and range of a file of numbers, as "median (lo-hi)"; with a
# second argument, the numbers are microseconds shown as ms.
summary() {
	sort -n "$1" | awk -v us="${2:-}" '{a[NR]=$1} END {
		m = NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2
		if (us) printf "%.1f (%.1f-%.1f)", m/1000, a[1]/1000, a[NR]/1000
		else printf "%d (%d-%d)", m, a[1], a[NR] }'
}
median() { sort -n "$1" | awk '{a[NR]=$1} END {printf "%d", NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# GB/s for bytes in ms
gbps() { awk -v b="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.2f", b / (ms * 1e6); else print "n/a" }'; }
# field of stats-dump's JSON
stat() { grep -o "\"$1\": [0-9]*" "$work/stats.json" | grep -o '[0-9]*$'; }

# start_memhog: a fresh memhog, reaped by a subshell of this shell: once
# waitjob returns, its pid is free again for the restore. (The subshell
# is the job, so bash does not report the kill.)
start_memhog() {
	rm -f "$work/pid" "$work/out"
	(setsid "$work/memhog" "$MIB" "$work/pid" "$work/out" </dev/null >/dev/null 2>&1; true) 2>/dev/null &
	job=$!
	while [ ! -s "$work/pid" ]; do sleep 0.02; done
	pid=$(head -n 1 "$work/pid")
	sed -n 2p "$work/pid" >>"$work/fill"
}
waitjob() { wait "$job" || true; pid=; }

# check_restored: SIGTERM to the restored memhog, which checks every page.
check_restored() {
	local rpid
	rpid=$(cat "$work/rpid")
	kill -TERM "$rpid"
	for _ in $(seq 200); do [ -s "$work/out" ] && break; sleep 0.05; done
	if [ "$(cat "$work/out" 2>/dev/null)" != PASS ]; then
		echo "bench: $1: restored memhog says: $(cat "$work/out" 2>/dev/null || echo nothing)" >&2
		exit 1
	fi
	while kill -0 "$rpid" 2>/dev/null; do sleep 0.02; done
}

for f in fill dump restore freezing frozen memdump memwrite pipe cdump crestore cfrozen predump pfrozen idump ifrozen irestore; do : >"$work/$f"; done
bytes=0
for i in $(seq "$RUNS"); do
	start_memhog
	rm -rf "$img"; mkdir "$img"
	t0=$(ns)
	"$BIN/criu-seize" -t "$pid" | "$BIN/criu-parasite" -D "$img"
	t1=$(ns)
	echo $(((t1 - t0) / 1000000)) >>"$work/dump"
	waitjob
	"$BIN/crit" decode -i "$img/stats-dump" >"$work/stats.json"
	# stats-dump's times are in microseconds.
	for f in freezing frozen memdump memwrite; do
		stat "${f}_time" >>"$work/$f"
	done
	scanned=$(stat pages_scanned); written=$(stat pages_written)
	bytes=$((written * 4096))
	t2=$(ns)
	"$BIN/criu-restore" -D "$img" -d --pidfile "$work/rpid"
	t3=$(ns)
	echo $(((t3 - t2) / 1000000)) >>"$work/restore"
	check_restored "run $i"
done
if [ "${BENCH_PIPE:-1}" != 0 ]; then
	for i in $(seq "$RUNS"); do
		start_memhog
		t0=$(ns)
		("$BIN/criu-seize" -t "$pid" | "$BIN/criu-parasite" | "$BIN/criu-restore" -d --pidfile "$work/rpid") &
		p=$!
		waitjob
		wait "$p"
		t1=$(ns)
		echo $(((t1 - t0) / 1000000)) >>"$work/pipe"
		check_restored "pipe run $i"
	done
fi

if [ "${BENCH_PREDUMP:-1}" != 0 ]; then
	for i in $(seq "$RUNS"); do
		start_memhog
		rm -rf "$img"; mkdir -p "$img/pre" "$img/final"
		t0=$(ns)
		"$BIN/criu-seize" -t "$pid" | "$BIN/criu-parasite" --pre-dump -D "$img/pre"
		t1=$(ns)
		echo $(((t1 - t0) / 1000000)) >>"$work/predump"
		"$BIN/crit" decode -i "$img/pre/stats-dump" >"$work/stats.json"
		stat frozen_time >>"$work/pfrozen"
		rm -f "$work/pid.touched"
		kill -USR1 "$pid"
		while [ ! -e "$work/pid.touched" ]; do sleep 0.02; done
		t0=$(ns)
		"$BIN/criu-seize" -t "$pid" | "$BIN/criu-parasite" -D "$img/final" --prev-images-dir ../pre
		t1=$(ns)
		echo $(((t1 - t0) / 1000000)) >>"$work/idump"
		waitjob
		"$BIN/crit" decode -i "$img/final/stats-dump" >"$work/stats.json"
		stat frozen_time >>"$work/ifrozen"
		iwritten=$(stat pages_written)
		t2=$(ns)
		"$BIN/criu-restore" -D "$img/final" -d --pidfile "$work/rpid"
		t3=$(ns)
		echo $(((t3 - t2) / 1000000)) >>"$work/irestore"
		check_restored "incremental run $i"
	done
fi
if [ -n "$CRIU" ]; then
	for i in $(seq "$RUNS"); do
		start_memhog
		rm -rf "$img"; mkdir "$img"
		t0=$(ns)
		"$CRIU" dump -t "$pid" -D "$img" -o dump.log
		t1=$(ns)
		echo $(((t1 - t0) / 1000000)) >>"$work/cdump"
		waitjob
		"$BIN/crit" decode -i "$img/stats-dump" >"$work/stats.json"
		stat frozen_time >>"$work/cfrozen"
		rm -f "$work/rpid"
		t2=$(ns)
		"$CRIU" restore -D "$img" -d --pidfile "$work/rpid" -o restore.log
		t3=$(ns)
		echo $(((t3 - t2) / 1000000)) >>"$work/crestore"
		check_restored "CRIU run $i"
	done
fi

echo "== $MIB MiB of touched anonymous memory, images in tmpfs, $RUNS runs: median (range), ms"
echo "pages: $written written of $scanned scanned ($((bytes >> 20)) MiB)"
echo "dump:    wall $(summary "$work/dump"), $(gbps "$bytes" "$(median "$work/dump")") GB/s"
echo "         stats-dump: freezing $(summary "$work/freezing" us), frozen $(summary "$work/frozen" us),"
echo "         memdump $(summary "$work/memdump" us), memwrite $(summary "$work/memwrite" us)"
echo "restore: wall $(summary "$work/restore"), $(gbps "$bytes" "$(median "$work/restore")") GB/s"
if [ "${BENCH_PIPE:-1}" != 0 ]; then
	echo "pipe:    criu-seize | criu-parasite | criu-restore, wall $(summary "$work/pipe")"
fi
if [ "${BENCH_PREDUMP:-1}" != 0 ]; then
	echo "incremental: pre-dump wall $(summary "$work/predump"), frozen $(summary "$work/pfrozen" us); the process writes every tenth page;"
	echo "         final dump ($iwritten pages) wall $(summary "$work/idump"), frozen $(summary "$work/ifrozen" us); restore of the chain wall $(summary "$work/irestore")"
fi
echo "reference: memhog's own first write of its memory (a fault per fresh page; the machine's noise) $(summary "$work/fill" us)"
if [ -n "$CRIU" ]; then
	echo "$("$CRIU" --version | head -n 1 | sed 's/Version: /CRIU /') on the same process:"
	echo "         dump wall $(summary "$work/cdump"), frozen $(summary "$work/cfrozen" us); restore wall $(summary "$work/crestore")"
fi
