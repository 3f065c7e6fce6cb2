#!/bin/sh
# run-selfcheck.sh BINDIR PROGRAM...
#
# Runs each C/R test program without checkpoint/restore: start it in a new
# session in a fresh work directory, wait for its pidfile, send SIGTERM
# (again every second, in case the first one came before it was waiting),
# and expect "PASS" in its outfile. Prints one line per program and exits
# non-zero if any failed. A failed program's directory (pidfile, outfile,
# log of its stderr) is kept and named.
#
# Environment: SELFCHECK_TIMEOUT (seconds per phase, default 20), TMPDIR.

set -u

bindir=$1
shift
timeout=${SELFCHECK_TIMEOUT:-20}
. "$(dirname "$0")/lib.sh"

# wait_for FILE PID SECONDS: waits until FILE is not empty; fails if PID
# exits first or the time passes.
wait_for() {
	ticks=0
	while [ ! -s "$1" ]; do
		kill -0 "$2" 2>/dev/null || return 1
		[ $ticks -ge $(($3 * 20)) ] && return 1
		sleep 0.05
		ticks=$((ticks + 1))
	done
}

for prog in "$@"; do
	dir=$(mktemp -d "${TMPDIR:-/tmp}/criugo-selfcheck.XXXXXX") || exit 1
	# setsid runs the program in place when it can (a background job of
	# a script is not a group leader) and otherwise forks and, with -w,
	# waits: either way $! lives as long as the program.
	# shellcheck disable=SC2046
	setsid -w "$bindir/$prog" $(args "$prog" "$dir") </dev/null >"$dir/log" 2>&1 &
	launched=$!
	pid=$launched
	verdict=
	if ! wait_for "$dir/pid" "$launched" "$timeout"; then
		verdict="no pidfile"
	else
		pid=$(cat "$dir/pid")
		verdict=$(resume_stopped "$prog" "$pid")
		round=0
		while [ $round -lt "$timeout" ]; do
			kill -TERM "$pid" 2>/dev/null
			wait_for "$dir/out" "$pid" 1 && break
			[ -s "$dir/out" ] && break # written just before exiting
			round=$((round + 1))
		done
	fi
	[ -s "$dir/out" ] || verdict=${verdict:-"no outfile after SIGTERM"}
	# Whatever the program left behind in its group goes too (it leads
	# its session, so its group id is its pid).
	kill -KILL "-$pid" 2>/dev/null
	kill -KILL "$launched" 2>/dev/null
	wait "$launched" 2>/dev/null
	if [ -z "$verdict" ]; then
		verdict=$(head -n 1 "$dir/out")
	fi
	if [ "$verdict" = PASS ]; then
		echo "PASS  $prog"
		rm -rf "$dir"
	else
		echo "FAIL  $prog: $verdict (see $dir)"
		failed=$((failed + 1))
	fi
done

if [ $failed -ne 0 ]; then
	echo "$failed of $# programs failed"
	exit 1
fi
echo "all $# programs passed"
