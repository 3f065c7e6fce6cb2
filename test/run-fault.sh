#!/usr/bin/env bash
# run-fault.sh TOOLS BINDIR [PROGRAM...]: every failure point, on demand.
#
# For each program (default: tree, threads, pipe, tcp: tasks, threads,
# pipes with data, an established TCP connection) and each point of
# CRIUGO_FAULT (internal/fault: seize:*, dump:* and restore:* points), the
# stage is made to fail there and its promise is checked:
#   seize:/dump: points  criu-seize | criu-parasite -D DIR fails; the tree
#                        runs on (not stopped) and passes its own check;
#                        the same with a pre-dump chain (a --pre-dump, then
#                        the failing dump with --prev-images-dir)
#   restore: points      after a good dump, criu-restore -D DIR -d fails;
#                        no task of the tree is left alive; a second
#                        restore from the same images then passes
# Prints one line per test and "fault: N passed, N failed" last; exits
# non-zero when one failed. Needs root.

set -u
tools=$1
bindir=$2
shift 2
progs=("$@")
[ ${#progs[@]} -eq 0 ] && progs=(tree threads pipe tcp)
timeout=${FAULT_TIMEOUT:-20}

if [ "$(id -u)" != 0 ]; then
	echo "run-fault: skipped: needs root"
	exit 0
fi

dump_points=(seize:after-freeze dump:after-attach dump:mid-pages dump:before-kill)
restore_points=(restore:after-forks restore:after-memory restore:after-files restore:before-release)
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d /tmp/criugo-fault.XXXXXX)
started=()
cleanup() {
	for p in "${started[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

dump_opts() {
	case $1 in
	tcp) echo "--tcp-established" ;;
	esac
}

# start PROGRAM DIR: starts it in a new session; prints its pid.
start() {
	rm -rf "$2" && mkdir -p "$2"
	setsid "$bindir/$1" --pidfile "$2/pid" --outfile "$2/out" --workdir "$2" </dev/null >"$2/log" 2>&1 &
	for _ in $(seq $((timeout * 20))); do
		[ -s "$2/pid" ] && { cat "$2/pid"; return 0; }
		sleep 0.05
	done
	return 1
}

# living PIDS...: prints those that are tasks still running (not gone, not
# zombies init has yet to reap), after giving them a second to die.
living() {
	local p st left
	for _ in $(seq 20); do
		left=
		for p in "$@"; do
			st=$(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null)
			case $st in "" | Z | X) ;; *) left="$left $p" ;; esac
		done
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	echo "$left"
}

# verdict PID DIR: SIGTERM until the outfile appears; prints it.
verdict() {
	for _ in $(seq "$timeout"); do
		kill -TERM "$1" 2>/dev/null
		for _ in $(seq 20); do
			[ -s "$2/out" ] && { head -n1 "$2/out"; return; }
			sleep 0.05
		done
	done
	echo "(no outfile)"
}

stopped() {
	case "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" in
	T | t) return 0 ;;
	esac
	return 1
}

# dump_fault PROGRAM POINT [predump]
dump_fault() {
	local prog=$1 pt=$2 chain=${3:-} name dir pid opts
	name="$prog/$pt${chain:+/predump}"
	dir=$work/$prog
	pid=$(start "$prog" "$dir") || { bad "$name" "did not start"; return; }
	started+=("$pid")
	opts=$(dump_opts "$prog")
	local prev=()
	if [ -n "$chain" ]; then
		# shellcheck disable=SC2086
		"$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" $opts --pre-dump -D "$dir/pre" 2>"$dir/err" ||
			{ bad "$name" "pre-dump: $(cat "$dir/err")"; kill -9 "$pid"; return; }
		prev=(--prev-images-dir ../pre)
	fi
	# shellcheck disable=SC2086
	if CRIUGO_FAULT=$pt "$tools/criu-seize" -t "$pid" 2>"$dir/err" |
		CRIUGO_FAULT=$pt "$tools/criu-parasite" $opts -D "$dir/ckpt" "${prev[@]}" 2>>"$dir/err"; then
		bad "$name" "the dump succeeded"
	elif ! grep -q "injected fault" "$dir/err"; then
		bad "$name" "the dump failed otherwise: $(head -c 300 "$dir/err")"
	elif [ ! -e "/proc/$pid" ]; then
		bad "$name" "the tree is gone after the failed dump"
	elif stopped "$pid"; then
		bad "$name" "the tree is left stopped"
	else
		v=$(verdict "$pid" "$dir")
		[ "$v" = PASS ] && ok "$name" || bad "$name" "the tree says $v after the failed dump"
	fi
	kill -9 "$pid" 2>/dev/null
	wait_gone "$pid"
}

# restore_fault PROGRAM POINT
restore_fault() {
	local prog=$1 pt=$2 name=$1/$2 dir pid opts left
	dir=$work/$prog
	pid=$(start "$prog" "$dir") || { bad "$name" "did not start"; return; }
	started+=("$pid")
	opts=$(dump_opts "$prog")
	# shellcheck disable=SC2086
	"$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" $opts -D "$dir/ckpt" 2>"$dir/err" ||
		{ bad "$name" "dump: $(cat "$dir/err")"; return; }
	local all
	all=$(pids_of "$dir/ckpt/pstree.img")
	# shellcheck disable=SC2086
	wait_gone $all || { bad "$name" "the dumped tree does not go away"; return; }
	if CRIUGO_FAULT=$pt "$tools/criu-restore" -D "$dir/ckpt" -d 2>"$dir/err"; then
		bad "$name" "the restore succeeded"
		kill -9 "$pid" 2>/dev/null
	elif ! grep -q "injected fault" "$dir/err"; then
		bad "$name" "the restore failed otherwise: $(head -c 300 "$dir/err")"
	else
		# shellcheck disable=SC2086
		left=$(living $all)
		if [ -n "$left" ]; then
			bad "$name" "tasks$left are alive after the failed restore"
			# shellcheck disable=SC2086
			kill -9 $left
		else
			# shellcheck disable=SC2086
			wait_gone $all
			rm -f "$dir/out"
			if "$tools/criu-restore" -D "$dir/ckpt" -d 2>"$dir/err"; then
				v=$(verdict "$pid" "$dir")
				[ "$v" = PASS ] && ok "$name" || bad "$name" "restored again, the tree says $v"
			else
				bad "$name" "the second restore failed: $(head -c 300 "$dir/err")"
			fi
		fi
	fi
	# shellcheck disable=SC2086
	kill -9 $all 2>/dev/null
	# shellcheck disable=SC2086
	wait_gone $all
}

for prog in "${progs[@]}"; do
	for pt in "${dump_points[@]}"; do dump_fault "$prog" "$pt"; done
	for pt in dump:after-attach dump:mid-pages dump:before-kill; do dump_fault "$prog" "$pt" predump; done
	for pt in "${restore_points[@]}"; do restore_fault "$prog" "$pt"; done
done

echo "fault: $passed passed, $failed failed"
[ "$failed" = 0 ]
