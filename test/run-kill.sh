#!/usr/bin/env bash
# run-kill.sh BINDIR [ROUNDS]: the tools killed mid-way.
#
# A tree is whole or absent, and images stay good for another try:
#   restore  a process holding 512 MiB (scripts/bench/memhog.c, which checks
#            every page after restore) is dumped once; then, ROUNDS times
#            (default 10), criu-restore -d from that directory is sent
#            SIGKILL at a random moment of its run (0 to 1.2 times the
#            length of a whole restore, measured first). Afterwards either
#            the restored process runs and passes its own check, or no
#            task has its pid. The images must still verify
#            (criu-imgtool verify) and, after all rounds, restore and pass.
#   dump     ROUNDS times, a running memhog is dumped with --leave-running
#            through criu-seize | criu-parasite and criu-parasite is sent
#            SIGKILL at a random moment: memhog must run on, not stopped,
#            and pass its own check.
#   signals  SIGINT and SIGTERM to criu-restore and to criu-parasite in
#            the middle of their work end them with a non-zero exit and
#            the same promises.
# Prints one line per round and "kill: N passed, N failed" last; exits
# non-zero when a round failed. Needs root.

set -u
bindir=$1
rounds=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
mib=${KILL_MIB:-512}

if [ "$(id -u)" != 0 ]; then
	echo "run-kill: skipped: needs root"
	exit 0
fi
work=$(mktemp -d /tmp/criugo-kill.XXXXXX)
img=$work/img
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
gcc -O2 -o "$work/memhog" "$top/scripts/bench/memhog.c" || exit 1

. "$here/lib.sh"

# start_memhog DIR: starts memhog in a new session, prints its pid.
start_memhog() {
	rm -f "$1/pid" "$1/out"
	mkdir -p "$1"
	setsid "$work/memhog" "$mib" "$1/pid" "$1/out" </dev/null >/dev/null 2>&1 &
	for _ in $(seq 600); do
		[ -s "$1/pid" ] && { head -n1 "$1/pid"; return 0; }
		sleep 0.05
	done
	return 1
}

# gone PID: waits up to 5 s for PID to disappear.
gone() {
	for _ in $(seq 100); do
		[ -e "/proc/$1" ] || return 0
		sleep 0.05
	done
	return 1
}

# verdict PID DIR: SIGTERM, then the outfile's first line.
verdict() {
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 200); do
		[ -s "$2/out" ] && { head -n1 "$2/out"; return; }
		sleep 0.05
	done
	echo "(no output)"
}

# alive PID: true when PID is a task that runs (not gone, not a zombie
# that init has yet to reap: the tasks a killed criu-restore leaves die
# with it, PTRACE_O_EXITKILL, and go to init).
alive() {
	for _ in $(seq 20); do
		case "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" in
		"" | Z | X) return 1 ;;
		esac
		sleep 0.05
	done
	return 0
}

# stopped PID: true when PID is in a stop state.
stopped() {
	case "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" in
	T | t) return 0 ;;
	esac
	return 1
}

# rand_ms MAX: a random number of milliseconds in [0, MAX].
rand_ms() { echo $((RANDOM * 32768 + RANDOM)) | awk -v m="$1" '{ printf "%d", $1 % (m + 1) }'; }
sleep_ms() { sleep "$(awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }')"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- restore killed ---------------------------------------------------
run=$work/run
pid=$(start_memhog "$run") || { bad restore "memhog did not start"; echo "kill: $passed passed, $failed failed"; exit 1; }
if ! "$bindir/criu-seize" -t "$pid" | "$bindir/criu-parasite" -D "$img" 2>"$work/dump.err"; then
	bad restore "dump: $(cat "$work/dump.err")"
	echo "kill: $passed passed, $failed failed"
	exit 1
fi
gone "$pid" || { bad restore "pid $pid still there after the dump"; exit 1; }
# The second whole restore is timed: the first also reads the pages
# file into the page cache.
for _ in 1 2; do
	t0=$(now_ms)
	"$bindir/criu-restore" -D "$img" -d || { bad restore "a whole restore failed"; exit 1; }
	full=$(($(now_ms) - t0))
	kill -9 "$pid"
	gone "$pid"
done
echo "run-kill: a whole restore of $mib MiB takes $full ms; killing criu-restore at random within $((full * 12 / 10)) ms"

restore_round() { # NAME SIGNAL
	rm -f "$run/out"
	at=$(rand_ms $((full * 12 / 10)))
	"$bindir/criu-restore" -D "$img" -d 2>"$work/restore.err" &
	r=$!
	sleep_ms "$at"
	kill "-$2" "$r" 2>/dev/null
	wait "$r" 2>/dev/null
	rc=$?
	if alive "$pid"; then
		if stopped "$pid"; then
			bad "$1" "killed at $at ms (exit $rc): pid $pid left stopped"
			kill -9 "$pid"
		else
			v=$(verdict "$pid" "$run")
			[ "$v" = PASS ] && ok "$1 (at $at ms, exit $rc: the tree came back whole)" ||
				bad "$1" "killed at $at ms (exit $rc): the restored process says $v"
		fi
		kill -9 "$pid" 2>/dev/null
	else
		[ "$2" != KILL ] && [ "$rc" = 0 ] && ! grep -q . "$work/restore.err" &&
			echo "      ($1: criu-restore was done before the signal)"
		ok "$1 (at $at ms, exit $rc: nothing of the tree left)"
	fi
	gone "$pid" || bad "$1" "pid $pid does not go away"
	"$bindir/criu-imgtool" verify -D "$img" >/dev/null 2>"$work/verify.err" ||
		bad "$1" "images no longer verify: $(cat "$work/verify.err")"
}
for i in $(seq "$rounds"); do restore_round "restore/kill-$i" KILL; done
restore_round restore/int INT
restore_round restore/term TERM
# A last restore from the same images must work.
rm -f "$run/out"
if "$bindir/criu-restore" -D "$img" -d 2>"$work/restore.err"; then
	v=$(verdict "$pid" "$run")
	[ "$v" = PASS ] && ok "restore/again" || bad restore/again "the restored process says $v"
	kill -9 "$pid" 2>/dev/null
	gone "$pid"
else
	bad restore/again "$(cat "$work/restore.err")"
fi

# --- dump killed ------------------------------------------------------
live=$work/live
pid=$(start_memhog "$live") || { bad dump "memhog did not start"; exit 1; }
pids+=("$pid")
t0=$(now_ms)
rm -rf "$work/d"
"$bindir/criu-seize" -t "$pid" | "$bindir/criu-parasite" --leave-running -D "$work/d" || bad dump "a whole dump failed"
dfull=$(($(now_ms) - t0))
echo "run-kill: a whole --leave-running dump of $mib MiB takes $dfull ms"
dump_round() { # NAME SIGNAL
	at=$(rand_ms $((dfull * 12 / 10)))
	rm -rf "$work/d"
	mkdir -p "$work/d"
	"$bindir/criu-seize" -t "$pid" -D "$work/d" 2>"$work/seize.err" || { bad "$1" "seize: $(cat "$work/seize.err")"; return; }
	"$bindir/criu-parasite" --leave-running -D "$work/d" 2>"$work/parasite.err" &
	c=$!
	sleep_ms "$at"
	kill "-$2" "$c" 2>/dev/null
	wait "$c" 2>/dev/null
	rc=$?
	# A criu-parasite killed by the signal itself (SIGKILL, or another
	# that came before its Go runtime had started and installed the
	# handler: exit 128+N) cannot thaw what criu-seize froze: that is
	# what criu-seize --thaw is for, and the record says how. One that
	# took the signal (exit 1) must have thawed the tree itself.
	if [ "$rc" -gt 128 ] && [ -e "$work/d/freeze.img" ]; then
		"$bindir/criu-seize" --thaw -D "$work/d" 2>/dev/null
	fi
	sleep 0.1
	if [ ! -e "/proc/$pid" ]; then
		bad "$1" "killed at $at ms (exit $rc): memhog is gone"
		return 1
	fi
	if stopped "$pid"; then
		bad "$1" "killed at $at ms (exit $rc): memhog left stopped"
		return 1
	fi
	ok "$1 (at $at ms, exit $rc: runs on)"
}
for i in $(seq "$rounds"); do dump_round "dump/kill-$i" KILL || break; done
dump_round dump/int INT
dump_round dump/term TERM
if [ -e "/proc/$pid" ]; then
	v=$(verdict "$pid" "$live")
	[ "$v" = PASS ] && ok "dump/intact" || bad dump/intact "memhog says $v after the killed dumps"
fi

echo "kill: $passed passed, $failed failed"
[ "$failed" = 0 ]
