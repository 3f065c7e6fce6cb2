# Shell helpers the run-*.sh harnesses share; each sources this file.
# Some read the sourcing script's variables: $tools (the directory of
# criugo's binaries) and $timeout (seconds).

passed=0
failed=0
# ok NAME, bad NAME WHY: a verdict line, counted.
ok() { echo "PASS  $1"; passed=$((passed + 1)); }
bad() { echo "FAIL  $1: $2"; failed=$((failed + 1)); }

# wait_file FILE SECONDS: waits until FILE is not empty.
wait_file() {
	local ticks=0
	while [ ! -s "$1" ]; do
		[ $ticks -ge $(($2 * 20)) ] && return 1
		sleep 0.05
		ticks=$((ticks + 1))
	done
}

# args PROGRAM DIR: the command line of a test program. The CRIU
# fixtures take positional arguments; ours take options.
args() {
	case $1 in
	fixture-state) echo "$2/pid $2/out $2" ;;
	fixture-tree) echo "$2/pid $2/out" ;;
	*) echo "--pidfile $2/pid --outfile $2/out --workdir $2" ;;
	esac
}

# pids_of PSTREE_IMG: every pid and tid the image names, one a line.
pids_of() {
	"$tools/crit" decode -i "$1" | grep -o '"pid": [0-9]*\|"threads": \[[0-9, ]*\]' |
		grep -o '[0-9][0-9]*' | grep -vx 0 | sort -u
}

# wait_gone PID...: waits up to $timeout seconds until none of the pids
# exists; otherwise says which one does and fails.
wait_gone() {
	local ticks=0 p busy
	while :; do
		busy=
		for p in "$@"; do
			[ -e "/proc/$p" ] && busy=$p
		done
		[ -z "$busy" ] && return 0
		[ $ticks -ge $((timeout * 20)) ] && { echo "pid $busy still exists"; return 1; }
		sleep 0.05
		ticks=$((ticks + 1))
	done
}

# criu_error LOG: the first error line of a CRIU log, leaving out one
# warning CRIU logs as an error here (root lacks CAP_SYS_RESOURCE).
criu_error() {
	grep Error "$1" | grep -v "Can't setup RLIMIT_NOFILE for self" | head -n 1
}

# resume_stopped PROGRAM PID: the root of the program `stopped` is
# stopped when it is ready: once every thread of it shows state T,
# SIGCONT lets it take its SIGTERM. Prints why not, or nothing.
resume_stopped() {
	local f st ticks
	[ "$1" = stopped ] || return 0
	for f in /proc/"$2"/task/*/stat; do
		ticks=0
		while :; do
			st=$(sed 's/.*) \(.\).*/\1/' "$f" 2>/dev/null)
			[ "$st" = T ] && break
			[ $ticks -ge 20 ] && { echo "not stopped: ${f%/stat} in state '$st'"; return 0; }
			sleep 0.05
			ticks=$((ticks + 1))
		done
	done
	kill -CONT "$2"
}
