#!/usr/bin/env bash
# make bench: what checkpointing costs, side by side with CRIU.
#  1. Go benchmarks: image code (pagemap encode/decode, page plan), the
#     dump's pages write path, the restore's page fill, injected syscalls.
#  2. The machine's own memory copy rate (scripts/bench/memrate.c: memcpy
#     of 1 GiB between two touched buffers on one core): the limit a dump
#     or restore that copies each page once can approach.
#  3. Four cases, images in tmpfs (/dev/shm), each measured $BENCH_RUNS
#     times (default 5) with our tools and with CRIU, alternating (ours,
#     CRIU, ours, CRIU, ...), printed as one table per case: median
#     (range) and the ratio ours/CRIU of the medians.
#       1g        1 task holding $BENCH_MIB MiB (default 1024) of touched
#                 anonymous memory (scripts/bench/memhog.c);
#       tree200   a parent and 200 children holding 2 MiB each, every task
#                 its own contents (scripts/bench/treehog.c);
#       8g        1 task holding $BENCH_BIG_MIB MiB (default 8192);
#       tree1000  a tree of depth 3: a root, 10 children, 100 grandchildren
#                 and 1000 great-grandchildren (1111 tasks), 2 MiB each.
#     BENCH_TREE_MIB changes the trees' 2 MiB. A case that does not fit
#     (the process and its images in memory twice over, then 1 GiB to
#     spare, by MemAvailable and the free space of /dev/shm) is skipped
#     with a message.
#     Figures of each case:
#       dump, restore: wall time of criu-seize | criu-parasite -D and
#         criu-restore -D -d, against criu dump and criu restore -d; the
#         stats-dump times (freezing, frozen, memdump, memwrite; see
#         pkg/dump's dumpStats), which CRIU writes too;
#       --leave-running: the frozen time of a dump that lets the tree run
#         on (and the tree then checks itself), unless BENCH_LEAVE=0;
#       pre-dump: criu-parasite --pre-dump, the root writes every tenth
#         page of its memory again, a final dump with --prev-images-dir
#         and the restore of the chain, unless BENCH_PREDUMP=0; CRIU's
#         criu pre-dump needs soft-dirty tracking, and where the kernel
#         lacks it (criu check --feature mem_dirty_track) the table says
#         so instead;
#       pipe: criu-seize | criu-parasite | criu-restore (live migration on
#         one machine), against CRIU's dump then restore, unless
#         BENCH_PIPE=0;
#       peak RSS of criu-parasite and criu-restore (and of the criu
#         process), by /usr/bin/time -f %M, when it is installed.
#     Every restored tree checks every page of every task and the bench
#     fails if one does not say PASS.
#  4. For reference, how long the tree took to write its memory the first
#     time (a page fault per fresh page): on this VM it varies 5-fold from
#     run to run, which puts the spread of the other figures in context.
#  5. When both trees ran: our dump and restore time per task in each, and
#     how the 1111-task tree's compares with the 201-task one's (the issue
#     asks for growth no faster than linear).
# Knobs: BENCH_RUNS (default 5); BENCH_CASES (default "1g tree200 8g
# tree1000"); BENCH_CRIU, the CRIU binary (default build/criu-4.2.1/criu
# when scripts/build-criu.sh built it; empty: ours only); BENCH_GO=0 skips
# the Go benchmarks and BENCH_TIME is their -benchtime; BENCH_BIN runs the
# tools of another build (default: bin/ of this tree); BENCH_MIB,
# BENCH_BIG_MIB, BENCH_TREE_MIB, BENCH_PIPE, BENCH_PREDUMP, BENCH_LEAVE as
# above.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
BIN=${BENCH_BIN:-$PWD/bin}
RUNS=${BENCH_RUNS:-5}
CASES=${BENCH_CASES:-1g tree200 8g tree1000}
MIB=${BENCH_MIB:-1024}
BIG_MIB=${BENCH_BIG_MIB:-8192}
TREE_MIB=${BENCH_TREE_MIB:-2}
CRIU=${BENCH_CRIU-$PWD/build/criu-4.2.1/criu}
if [ -n "$CRIU" ] && [ ! -x "$CRIU" ]; then
	echo "bench: no CRIU at $CRIU (scripts/build-criu.sh builds one): ours only"
	CRIU=
fi
TIMEBIN=
[ -x /usr/bin/time ] && TIMEBIN=/usr/bin/time

for c in $CASES; do
	case $c in 1g | tree200 | 8g | tree1000) ;; *)
		echo "bench: unknown case $c in BENCH_CASES (1g tree200 8g tree1000)" >&2
		exit 2
		;;
	esac
done

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
	# The tree is its own process group (setsid): kill all of it.
	[ -n "$pid" ] && kill -9 -- "-$pid" 2>/dev/null || true
	rm -rf "$work" "$img"
}
trap cleanup EXIT
case=
trap 'echo "bench: FAILED${case:+ in case $case}: line $LINENO: $BASH_COMMAND" >&2' ERR
for p in memhog treehog memrate; do
	gcc -O2 -o "$work/$p" "scripts/bench/$p.c"
done

# avail_mib: what memory and /dev/shm can still take, in MiB.
avail_mib() {
	local mem shm
	mem=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
	shm=$(df -Pm /dev/shm | awk 'NR == 2 {print $4}')
	echo $((mem < shm ? mem : shm))
}

echo "== memory copy rate: memcpy of 1 GiB between two touched buffers, one core, 5 copies"
if [ "$(avail_mib)" -gt 3072 ]; then
	read -r cp_med cp_best < <("$work/memrate" 1024 5)
	echo "median $cp_med GB/s, best $cp_best GB/s: the limit for moving each page once"
else
	cp_med=
	echo "skipped: less than 3 GiB of memory free"
fi

ns() { date +%s%N; }
# summary FILE [DIV [DECIMALS]]: median and range of a file of numbers,
# each divided by DIV, as "median (lo-hi)".
summary() {
	sort -n "$1" | awk -v div="${2:-1}" -v dec="${3:-0}" '{a[NR]=$1/div} END {
		m = NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2
		f = "%." dec "f"
		printf f " (" f "-" f ")", m, a[1], a[NR] }'
}
median() { sort -n "$1" | awk '{a[NR]=$1} END {print NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# gbps BYTES MS
gbps() { awk -v b="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.2f", b / (ms * 1e6); else print "n/a" }'; }
# stat FIELD: a field of the stats-dump decoded into $work/stats.json
stat() { grep -o "\"$1\": [0-9]*" "$work/stats.json" | grep -o '[0-9]*$' || echo 0; }
# stats DIR PREFIX: stats-dump's times of DIR appended to PREFIX.<time>
stats() {
	"$BIN/crit" decode -i "$1/stats-dump" >"$work/stats.json"
	for f in freezing frozen memdump memwrite; do
		stat "${f}_time" >>"$work/$2.$f"
	done
	stat pages_written >"$work/$2.pages"
}
# peak FILE CMD...: CMD, its peak resident memory in KiB appended to FILE.
peak() {
	local out=$1
	shift
	if [ -z "$TIMEBIN" ]; then
		"$@"
		return
	fi
	local rc=0
	"$TIMEBIN" -q -f %M -o "$out.tmp" "$@" || rc=$?
	tail -n 1 "$out.tmp" >>"$out"
	return $rc
}
# msince T0 FILE: the milliseconds since T0 appended to FILE.
msince() { echo $((($(ns) - $1) / 1000000)) >>"$work/$2"; }

# start: a fresh tree of the case ($hog), reaped by a subshell of this
# shell. (The subshell is the job, so bash does not report the kill.)
start() {
	rm -f "$work/pid" "$work/pid.touched" "$work/out" "$work/rpid"
	# shellcheck disable=SC2086 # $hog is the program and its arguments
	(setsid $hog "$work/pid" "$work/out" </dev/null >/dev/null 2>"$work/hog.err"; true) 2>/dev/null &
	job=$!
	local i=0
	while [ ! -s "$work/pid" ]; do
		if ! kill -0 "$job" 2>/dev/null || [ $((i += 1)) -gt 6000 ]; then
			echo "bench: $hog did not start: $(cat "$work/hog.err")" >&2
			exit 1
		fi
		sleep 0.02
	done
	pid=$(head -n 1 "$work/pid")
	sed -n 2p "$work/pid" >>"$work/fill"
}
# gone: once the dumped tree is dead, every task reaped, so that its pids
# are free again for the restore.
gone() {
	wait "$job" || true
	local i=0
	while pgrep -s "$pid" >/dev/null; do
		if [ $((i += 1)) -gt 3000 ]; then
			echo "bench: $1: the dumped tree is still there after 60 s" >&2
			exit 1
		fi
		sleep 0.02
	done
	pid=
}
# check LABEL PID: SIGTERM to the tree rooted at PID, which checks every
# page of every task and says PASS; then wait until the tree is gone.
check() {
	local rpid=$2 i=0
	pid=$rpid
	kill -TERM "$rpid"
	while [ ! -s "$work/out" ]; do
		if [ $((i += 1)) -gt 6000 ]; then break; fi
		sleep 0.02
	done
	if [ "$(cat "$work/out" 2>/dev/null)" != PASS ]; then
		echo "bench: $case, $1: the tree says: $(cat "$work/out" 2>/dev/null || echo nothing)" >&2
		exit 1
	fi
	i=0
	while pgrep -s "$rpid" >/dev/null; do
		if [ $((i += 1)) -gt 3000 ]; then
			echo "bench: $case, $1: the tree is still there 60 s after PASS" >&2
			exit 1
		fi
		sleep 0.02
	done
	pid=
	rm -f "$work/out"
}
fresh() { rm -rf "$img"; mkdir -p "$img/pre" "$img/final"; }

# The runs of one case, alternating ours and CRIU's.
ours_dump() {
	fresh
	start
	local t0
	t0=$(ns)
	"$BIN/criu-seize" -t "$pid" | peak "$work/o.rssdump" "$BIN/criu-parasite" -D "$img/final"
	msince "$t0" o.dump
	gone "our dump $1"
	stats "$img/final" o
	t0=$(ns)
	peak "$work/o.rssrestore" "$BIN/criu-restore" -D "$img/final" -d --pidfile "$work/rpid" --verbose 2>"$work/rlog" || { cat "$work/rlog" >&2; false; }
	msince "$t0" o.restore
	# The injected calls and ptrace stops of the whole restore (its last
	# step line), for the counts per task.
	grep '^resume tasks:' "$work/rlog" | sed -n 's/.*so far: \([0-9]*\) system calls injected, [0-9]* of them in \([0-9]*\) batches, \([0-9]*\) ptrace stops.*/\1 \2 \3/p' >>"$work/o.calls" || true
	check "our restore, run $1" "$(cat "$work/rpid")"
}
criu_dump() {
	fresh
	start
	local t0
	t0=$(ns)
	peak "$work/c.rssdump" "$CRIU" dump -t "$pid" -D "$img/final" -o dump.log
	msince "$t0" c.dump
	gone "CRIU's dump $1"
	stats "$img/final" c
	t0=$(ns)
	peak "$work/c.rssrestore" "$CRIU" restore -D "$img/final" -d --pidfile "$work/rpid" -o restore.log
	msince "$t0" c.restore
	check "CRIU's restore, run $1" "$(cat "$work/rpid")"
	echo $(($(tail -n 1 "$work/c.dump") + $(tail -n 1 "$work/c.restore"))) >>"$work/c.pipe"
}
ours_leave() {
	fresh
	start
	"$BIN/criu-seize" -t "$pid" | "$BIN/criu-parasite" -D "$img/final" --leave-running
	stats "$img/final" o.lr
	check "the tree after our --leave-running dump, run $1" "$pid"
	wait "$job" || true
}
criu_leave() {
	fresh
	start
	"$CRIU" dump -t "$pid" -D "$img/final" --leave-running -o dump.log
	stats "$img/final" c.lr
	check "the tree after CRIU's --leave-running dump, run $1" "$pid"
	wait "$job" || true
}
# touch: the root writes every tenth page of its memory again.
touch_tree() {
	kill -USR1 "$pid"
	while [ ! -e "$work/pid.touched" ]; do sleep 0.02; done
}
ours_predump() {
	fresh
	start
	local t0
	t0=$(ns)
	"$BIN/criu-seize" -t "$pid" | "$BIN/criu-parasite" --pre-dump -D "$img/pre"
	msince "$t0" o.pre
	stats "$img/pre" o.pre
	touch_tree
	t0=$(ns)
	"$BIN/criu-seize" -t "$pid" | "$BIN/criu-parasite" -D "$img/final" --prev-images-dir ../pre
	msince "$t0" o.final
	gone "our final dump, run $1"
	stats "$img/final" o.final
	t0=$(ns)
	"$BIN/criu-restore" -D "$img/final" -d --pidfile "$work/rpid"
	msince "$t0" o.chain
	check "our restore of the pre-dump chain, run $1" "$(cat "$work/rpid")"
}
# Not run on this project's VM, whose kernel lacks soft-dirty tracking.
criu_predump() {
	fresh
	start
	local t0
	t0=$(ns)
	"$CRIU" pre-dump -t "$pid" -D "$img/pre" -o dump.log
	msince "$t0" c.pre
	stats "$img/pre" c.pre
	touch_tree
	t0=$(ns)
	"$CRIU" dump -t "$pid" -D "$img/final" --prev-images-dir ../pre --track-mem -o dump.log
	msince "$t0" c.final
	gone "CRIU's final dump, run $1"
	stats "$img/final" c.final
	t0=$(ns)
	"$CRIU" restore -D "$img/final" -d --pidfile "$work/rpid" -o restore.log
	msince "$t0" c.chain
	check "CRIU's restore of the pre-dump chain, run $1" "$(cat "$work/rpid")"
}
ours_pipe() {
	# No images: the tree and its restored copy are what memory holds.
	rm -rf "$img"
	start
	local t0 p
	t0=$(ns)
	("$BIN/criu-seize" -t "$pid" | peak "$work/o.rsspipep" "$BIN/criu-parasite" |
		peak "$work/o.rsspiper" "$BIN/criu-restore" -d --pidfile "$work/rpid") &
	p=$!
	wait "$job" || true
	wait "$p"
	msince "$t0" o.pipe
	check "the tree through our pipe, run $1" "$(cat "$work/rpid")"
}

criu_soft_dirty=0
if [ -n "$CRIU" ]; then
	criu_name=$("$CRIU" --version | head -n 1 | sed 's/Version: /CRIU /')
	"$CRIU" check --feature mem_dirty_track >/dev/null 2>&1 && criu_soft_dirty=1
else
	criu_name=CRIU
fi

# row NAME FILE DIV DECIMALS: one line of the table, ours from o.FILE and
# CRIU's from c.FILE; NOTE, when set, stands in for a missing CRIU figure.
row() {
	local name=$1 f=$2 div=$3 dec=$4 os=- cs=${NOTE:--} ratio=-
	[ -s "$work/o.$f" ] && os=$(summary "$work/o.$f" "$div" "$dec")
	[ -s "$work/c.$f" ] && cs=$(summary "$work/c.$f" "$div" "$dec")
	if [ -s "$work/o.$f" ] && [ -s "$work/c.$f" ]; then
		ratio=$(awk -v o="$(median "$work/o.$f")" -v c="$(median "$work/c.$f")" \
			'BEGIN { if (c > 0) printf "%.2f", o / c; else print "-" }')
	fi
	[ "$os" = - ] && [ "$cs" = - ] && return
	printf '%-30s %-26s %-26s %s\n' "$name" "$os" "$cs" "$ratio"
}

for case in $CASES; do
	case $case in
	1g) hog="$work/memhog $MIB" tasks=1 mib=$MIB label="1 task x $MIB MiB" ;;
	8g) hog="$work/memhog $BIG_MIB" tasks=1 mib=$BIG_MIB label="1 task x $BIG_MIB MiB" ;;
	tree200)
		hog="$work/treehog 200 1 $TREE_MIB" tasks=201 mib=$((201 * TREE_MIB))
		label="201 tasks (a parent and 200 children) x $TREE_MIB MiB"
		;;
	tree1000)
		hog="$work/treehog 10 3 $TREE_MIB" tasks=1111 mib=$((1111 * TREE_MIB))
		label="1111 tasks (10 x 10 x 10 below a root) x $TREE_MIB MiB"
		;;
	esac
	# The tree, its images and another copy (the pipe's restored tree, or
	# a restore from the images) at once, the tools and 1 GiB to spare;
	# a task's own overhead counted as 1 MiB.
	need=$((2 * (mib + tasks) + 1024))
	if [ "$(avail_mib)" -lt "$need" ]; then
		echo "== $label: skipped: needs $need MiB of memory and of /dev/shm, $(avail_mib) MiB available"
		continue
	fi
	rm -f "$work"/o.* "$work"/c.* "$work/fill"
	t_case=$(ns)
	for i in $(seq "$RUNS"); do
		ours_dump "$i"
		[ -n "$CRIU" ] && criu_dump "$i"
		if [ "${BENCH_LEAVE:-1}" != 0 ]; then
			ours_leave "$i"
			[ -n "$CRIU" ] && criu_leave "$i"
		fi
		if [ "${BENCH_PREDUMP:-1}" != 0 ]; then
			ours_predump "$i"
			[ -n "$CRIU" ] && [ "$criu_soft_dirty" = 1 ] && criu_predump "$i"
		fi
		if [ "${BENCH_PIPE:-1}" != 0 ]; then
			ours_pipe "$i"
		fi
	done
	secs=$((($(ns) - t_case) / 1000000000))

	alt=", alternating"
	[ -z "$CRIU" ] && alt=", ours only"
	echo "== $label, images in tmpfs, $RUNS runs$alt ($secs s): median (range) ms"
	printf '%-30s %-26s %-26s %s\n' "" ours "$criu_name" "ours/CRIU"
	row "dump" dump 1 0
	row "restore" restore 1 0
	row "dump: freezing" freezing 1000 1
	row "dump: frozen" frozen 1000 1
	row "dump: memdump" memdump 1000 1
	row "dump: memwrite" memwrite 1000 1
	row "--leave-running: frozen" lr.frozen 1000 1
	if [ "${BENCH_PREDUMP:-1}" != 0 ]; then
		pnote=-
		[ -n "$CRIU" ] && [ "$criu_soft_dirty" = 0 ] && pnote="n/a: no soft-dirty"
		NOTE=$pnote row "pre-dump" pre 1 0
		NOTE=$pnote row "pre-dump: frozen" pre.frozen 1000 1
		NOTE=$pnote row "final dump" final 1 0
		NOTE=$pnote row "final dump: frozen" final.frozen 1000 1
		NOTE=$pnote row "restore of the chain" chain 1 0
	fi
	row "pipe (CRIU: dump + restore)" pipe 1 0
	row "peak RSS MiB: dump" rssdump 1024 1
	row "peak RSS MiB: restore" rssrestore 1024 1
	row "peak RSS MiB: pipe's parasite" rsspipep 1024 1
	row "peak RSS MiB: pipe's restore" rsspiper 1024 1
	bytes=$(($(cat "$work/o.pages") * 4096))
	line="ours: $(($(cat "$work/o.pages") >> 8)) MiB of pages written, dump $(gbps "$bytes" "$(median "$work/o.dump")") GB/s, restore $(gbps "$bytes" "$(median "$work/o.restore")") GB/s"
	if [ -s "$work/c.pages" ]; then
		cbytes=$(($(cat "$work/c.pages") * 4096))
		line="$line; CRIU: $(($(cat "$work/c.pages") >> 8)) MiB, dump $(gbps "$cbytes" "$(median "$work/c.dump")") GB/s, restore $(gbps "$cbytes" "$(median "$work/c.restore")") GB/s"
	fi
	[ -n "$cp_med" ] && line="$line; memcpy $cp_med GB/s"
	echo "$line"
	if [ -s "$work/o.calls" ]; then
		# Deterministic, unlike the times: what the restore asked of each task.
		tail -n 1 "$work/o.calls" | awk -v n="$tasks" '{ printf "ours: restore per task: %.1f system calls injected (%.1f batches), %.1f ptrace stops\n", $1 / n, $2 / n, $3 / n }'
	fi
	if [ "${BENCH_PREDUMP:-1}" != 0 ]; then
		echo "pre-dump: the root then writes every tenth page of its memory; the final dump writes $(cat "$work/o.final.pages") pages"
		if [ -n "$CRIU" ] && [ "$criu_soft_dirty" = 0 ]; then
			echo "  $criu_name has no pre-dump here: the kernel lacks soft-dirty tracking (criu check --feature mem_dirty_track"
			echo "  fails), so criu pre-dump aborts (BUG at criu/mem.c:46) and criu dump --track-mem is refused"
		fi
	fi
	if [ -z "$TIMEBIN" ]; then
		echo "peak RSS not measured: /usr/bin/time is missing (apt-get install time)"
	else
		maxrss=$(cat "$work"/o.rss* | sort -n | tail -n 1)
		echo "largest peak RSS of criu-parasite and criu-restore: $((maxrss >> 10)) MiB (the issue's bound for 8 GiB: under 64 MiB)"
	fi
	echo "reference: the tree's own first write of its memory (a fault per fresh page; the machine's noise) $(summary "$work/fill" 1000 1) ms"
	# Per task, for the growth from the 201-task tree to the 1111-task one.
	case $case in tree200 | tree1000)
		for f in dump restore; do
			eval "pertask_${case}_$f=$(awk -v m="$(median "$work/o.$f")" -v n="$tasks" 'BEGIN { printf "%.2f", m / n }')"
		done
		;;
	esac
done

# Linear growth means the same time per task in both trees.
if [ -n "${pertask_tree200_restore:-}" ] && [ -n "${pertask_tree1000_restore:-}" ]; then
	echo "== growth from 201 to 1111 tasks (ours): ms per task, median time / tasks"
	for f in dump restore; do
		eval "a=\$pertask_tree200_$f b=\$pertask_tree1000_$f"
		awk -v f="$f" -v a="$a" -v b="$b" 'BEGIN { printf "%-8s 201 tasks %.2f, 1111 tasks %.2f: x%.2f per task (1.00 is linear; above it, faster than linear)\n", f, a, b, (a > 0 ? b / a : 0) }'
	done
fi
