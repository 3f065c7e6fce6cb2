#!/bin/bash
# run-real.sh TOOLS [PROGRAM...]
#
# The harness of real programs: programs nobody here wrote, started as a
# user would start them, given state, checkpointed and restored with the
# tools in TOOLS, and checked from outside with their own clients. Each
# runs in a temporary directory and listens on loopback only.
#
#   redis     redis-server with 1000 keys set; redis-cli GETs them and
#             sets one more
#   nginx     nginx, a master and two workers, serving a file; curl
#             fetches it and the master still has its two workers
#   python    Python's http.server serving a directory; curl
#   postgres  PostgreSQL: initdb in the directory (as nobody: postgres
#             refuses root), a table written before; psql reads it after
#             and writes one more row (shared memory, many processes)
#   postgres-ipc  the same PostgreSQL started in an IPC namespace of its
#             own (unshare --ipc), as a container runtime would start it:
#             its SysV segment is then the tree's to dump
#   jvm       OpenJDK: Counter.java (real/), compiled by javac here, with
#             256 MiB of live heap and four counting threads, answers on a
#             socket; curl checks the heap and that the counters went on
#   node      Node.js: real/server.js, an HTTP server counting requests
#             and timer ticks; curl checks that both went on
#
# Modes, ours:
#   dir       criu-seize | criu-parasite -D DIR; criu-restore -D DIR -d
#   stream    criu-seize | criu-parasite > ckpt.tar; criu-restore -d < ckpt.tar
#   pipe      criu-seize | criu-parasite | criu-restore -d
#   leave     criu-parasite --leave-running: the original goes on and answers
# and CRIU's, side by side, when CRIU names a CRIU binary that passes
# `criu check` (scripts/build-criu.sh builds CRIU 4.2.1):
#   criu        criu dump -D DIR; criu restore -D DIR -d
#   criu-leave  criu dump --leave-running
#
# A program that is not installed is skipped with a message. Prints one
# line per test and closes with a table of PASS/FAIL per program and mode,
# ours beside CRIU's, and the error of each failure. A failure of ours
# that REAL_KNOWN (real-known beside this script) lists, with its reason,
# is counted as known; the harness exits non-zero if one of ours fails
# that it does not list. CRIU's results are the oracle's, reported only.
# The directory of a failed test but a known one is kept and named.
#
# Environment: REAL_MODES (default: all of the above), REAL_TIMEOUT
# (seconds per wait, default 20), CRIU, REAL_KNOWN, TMPDIR.

set -u

tools=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
timeout=${REAL_TIMEOUT:-20}
modes=${REAL_MODES:-dir stream pipe leave criu criu-leave}
CRIU=${CRIU:-}
REAL_KNOWN=${REAL_KNOWN:-$here/real-known}
programs=${*:-redis nginx python postgres postgres-ipc jvm node}

if [ "$(id -u)" != 0 ]; then
	echo "run-real: skipped: checkpoint/restore tests need root (CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_CHECKPOINT_RESTORE)"
	exit 0
fi

# As in run-cr.sh: the programs get no descriptor but 0-2 from us.
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then
		eval "exec $fd>&-"
	fi
done

case " $modes " in
*" criu "* | *" criu-leave "*)
	why=
	if [ -z "$CRIU" ]; then
		why="CRIU is not set"
	elif ! "$CRIU" check >/dev/null 2>&1; then
		why="$CRIU check fails"
	fi
	if [ -n "$why" ]; then
		echo "run-real: CRIU modes (criu, criu-leave) skipped: $why (scripts/build-criu.sh builds CRIU 4.2.1)"
		modes=$(echo " $modes " | sed 's/ criu / /; s/ criu-leave / /')
	else
		criu_version=$("$CRIU" --version | head -n 1)
		echo "run-real: CRIU modes against $criu_version"
	fi
	;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/criugo-real.XXXXXX") || exit 1
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

. "$here/lib.sh"
known=0
skipped=0
declare -A result
errors=()

# wait_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds.
wait_until() {
	local secs=$1 ticks=0
	shift
	until "$@" >/dev/null 2>&1; do
		[ $ticks -ge $((secs * 10)) ] && return 1
		sleep 0.1
		ticks=$((ticks + 1))
	done
}

# free_port: a loopback TCP port nobody listens on.
next_port=$((20000 + $$ % 20000))
free_port() {
	while ss -Htln "sport = :$next_port" | grep -q .; do
		next_port=$((next_port + 1))
	done
	echo $next_port
	next_port=$((next_port + 1))
}

# tree PID: PID and its descendants.
tree() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1"); do
		tree "$c"
	done
}

# kill_tree PID: kills PID and its descendants (postgres's children lead
# process groups of their own, so the group is not enough).
kill_tree() {
	local pids
	[ -n "$1" ] && [ -e "/proc/$1" ] || return 0
	kill -STOP "$1" 2>/dev/null
	pids=$(tree "$1")
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	# shellcheck disable=SC2086
	wait_gone $pids >/dev/null
}

# The programs. For each NAME: have_NAME says what is missing (nothing
# when it is installed); start_NAME DIR PORT starts it, leaves the pid of
# its root in DIR/pid and returns once it answers; state_NAME DIR PORT
# gives it state; check_NAME DIR PORT checks it from outside, prints why
# not and fails when it does not pass.

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || echo "$c"
	done
}

curl_get() {
	curl -sS --max-time 5 "http://127.0.0.1:$1/${2:-}"
}

# start DIR CMD...: starts CMD in its own session, as a daemon would run:
# stdin /dev/null, output to DIR/log, pid in DIR/pid.
start() {
	local dir=$1
	shift
	# setsid -f: not this shell's child, so init reaps it when a dump
	# kills it and its pid is free again for the restore.
	setsid -f sh -c 'echo $$ >"$0"; exec "$@"' "$dir/pid" "$@" </dev/null >"$dir/log" 2>&1
	wait_until "$timeout" test -s "$dir/pid"
}

# --- redis
have_redis() { need redis-server redis-cli; }
start_redis() {
	start "$1" redis-server --bind 127.0.0.1 --port "$2" --dir "$1" --save "" --appendonly no \
		--daemonize no --protected-mode no --logfile "$1/redis.log" &&
		wait_until "$timeout" redis-cli -p "$2" PING
}
state_redis() {
	seq 1000 | awk '{ print "SET key:" $1 " value:" $1 }' | redis-cli -p "$2" >/dev/null &&
		[ "$(redis-cli -p "$2" DBSIZE)" = 1000 ]
}
check_redis() {
	local k v
	for k in 1 500 1000; do
		v=$(redis-cli -p "$2" GET "key:$k" 2>&1)
		[ "$v" = "value:$k" ] || { echo "redis-cli GET key:$k: '$v', not value:$k"; return 1; }
	done
	v=$(redis-cli -p "$2" SET after restore 2>&1)
	[ "$v" = OK ] || { echo "redis-cli SET after restore: '$v'"; return 1; }
	v=$(redis-cli -p "$2" GET after 2>&1)
	[ "$v" = restore ] || { echo "redis-cli GET after: '$v'"; return 1; }
}

# --- nginx
have_nginx() { need nginx curl; }
start_nginx() {
	mkdir -p "$1/www" "$1/tmp" &&
		echo "nginx says $1" >"$1/www/index.html" &&
		cat >"$1/nginx.conf" <<-EOF
			daemon off;
			master_process on;
			worker_processes 2;
			pid $1/nginx.pid;
			error_log $1/error.log;
			events { worker_connections 64; }
			http {
				access_log $1/access.log;
				client_body_temp_path $1/tmp/body;
				server {
					listen 127.0.0.1:$2;
					root $1/www;
				}
			}
		EOF
	start "$1" nginx -p "$1" -c "$1/nginx.conf" -e "$1/error.log" &&
		wait_until "$timeout" curl_get "$2" &&
		wait_until "$timeout" workers "$1" 2
}
# workers DIR N: the master has N workers.
workers() { [ "$(pgrep -c -P "$(cat "$1/pid")")" = "$2" ]; }
state_nginx() { :; }
check_nginx() {
	local v n
	v=$(curl_get "$2" 2>&1)
	[ "$v" = "nginx says $1" ] || { echo "curl: '$v'"; return 1; }
	n=$(pgrep -c -P "$(cat "$1/pid")")
	[ "$n" = 2 ] || { echo "the master has $n workers, not 2"; return 1; }
}

# --- Python's http.server
PYTHON=${PYTHON:-/usr/bin/python3}
have_python() { [ -x "$PYTHON" ] || echo "$PYTHON"; need curl; }
start_python() {
	mkdir -p "$1/www" && echo "python says $1" >"$1/www/index.html" &&
		start "$1" "$PYTHON" -m http.server "$2" --bind 127.0.0.1 --directory "$1/www" &&
		wait_until "$timeout" curl_get "$2"
}
state_python() { :; }
check_python() {
	local v
	v=$(curl_get "$2" 2>&1)
	[ "$v" = "python says $1" ] || { echo "curl: '$v'"; return 1; }
}

# --- PostgreSQL, run as nobody from a cluster initdb made once.
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
have_postgres() {
	[ -x "$PGBIN/postgres" ] || { echo "postgres (PGBIN=${PGBIN:-/usr/lib/postgresql/N/bin})"; return; }
	need setpriv
}
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
psql_q() { PGCONNECT_TIMEOUT=5 "$PGBIN/psql" -X -A -t -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"; }
# start_postgres DIR PORT [PREFIX...]: PREFIX runs the postmaster.
start_postgres() {
	local dir=$1 port=$2
	shift 2
	if [ ! -d "$work/pg" ]; then
		mkdir "$work/pg" && chown nobody:nogroup "$work/pg" &&
			as_nobody "$PGBIN/initdb" -D "$work/pg" -U postgres --auth=trust --locale=C -E UTF8 --no-sync \
				>"$work/initdb.log" 2>&1 || { echo "initdb failed: $(tail -n 1 "$work/initdb.log")"; return 1; }
	fi
	cp -a "$work/pg" "$dir/pg" && mkdir "$dir/sock" && chown nobody:nogroup "$dir/sock" &&
		start "$dir" "$@" setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$PGBIN/postgres" -D "$dir/pg" -p "$port" -k "$dir/sock" -c listen_addresses=127.0.0.1 &&
		wait_until "$timeout" psql_q "$port" "SELECT 1"
}
state_postgres() {
	psql_q "$2" "CREATE TABLE t (k int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 10000) g"
}
check_postgres() {
	local v
	v=$(psql_q "$2" "SELECT count(*), sum(k) FROM t WHERE k <= 10000 AND v = md5(k::text)" 2>&1)
	[ "$v" = "10000|50005000" ] || { echo "psql SELECT: '$v', not 10000|50005000"; return 1; }
	v=$(psql_q "$2" "INSERT INTO t VALUES (10000 + (SELECT count(*) FROM t), 'after'); SELECT 'ok'" 2>&1)
	[ "$v" = ok ] || { echo "psql INSERT: '$v'"; return 1; }
}

have_postgres-ipc() { have_postgres; need unshare; }
start_postgres-ipc() { start_postgres "$1" "$2" unshare --ipc; }
state_postgres-ipc() { state_postgres "$@"; }
check_postgres-ipc() { check_postgres "$@"; }

# --- the JVM
have_jvm() { need java javac curl; }
start_jvm() {
	if [ ! -f "$work/java/Counter.class" ]; then
		javac -d "$work/java" "$here/real/Counter.java" >"$work/javac.log" 2>&1 ||
			{ echo "javac failed: $(tail -n 1 "$work/javac.log")"; return 1; }
	fi
	start "$1" java -Xmx384m -cp "$work/java" Counter "$2" 256 &&
		wait_until "$timeout" curl_get "$2"
}
# ticks PORT KEY: the number after KEY= in the program's answer.
ticks() { curl_get "$1" | grep -o "$2=[0-9]*" | cut -d= -f2; }
state_jvm() { ticks "$2" ticks >"$1/seen"; }
check_jvm() {
	local v seen
	v=$(curl_get "$2" 2>&1)
	case $v in
	*"heap=ok threads=4"*) ;;
	*) echo "curl: '$v'"; return 1 ;;
	esac
	seen=$(cat "$1/seen")
	v=${v#ticks=}
	v=${v%% *}
	[ "$v" -gt "$seen" ] || { echo "ticks=$v, not more than the $seen before"; return 1; }
}

# --- Node.js
have_node() { need node curl; }
start_node() {
	cp "$here/real/server.js" "$1/server.js" &&
		start "$1" node "$1/server.js" "$2" &&
		wait_until "$timeout" curl_get "$2"
}
state_node() {
	ticks "$2" requests >"$1/seen" && ticks "$2" ticks >"$1/seen-ticks"
}
check_node() {
	local v r t
	v=$(curl_get "$2" 2>&1)
	r=$(echo "$v" | grep -o 'requests=[0-9]*' | cut -d= -f2)
	t=$(echo "$v" | grep -o 'ticks=[0-9]*' | cut -d= -f2)
	[ -n "$r" ] && [ -n "$t" ] || { echo "curl: '$v'"; return 1; }
	[ "$r" -gt "$(cat "$1/seen")" ] || { echo "requests=$r, not more than the $(cat "$1/seen") before"; return 1; }
	[ "$t" -gt "$(cat "$1/seen-ticks")" ] || { echo "ticks=$t, not more than the $(cat "$1/seen-ticks") before"; return 1; }
}

# known PROGRAM MODE: the reason REAL_KNOWN gives for a failure of ours
# ("PROGRAM MODE REASON..." lines, MODE * for every mode).
known() {
	[ -f "$REAL_KNOWN" ] || return 0
	awk -v prog="$1" -v mode="$2" '
		$1 !~ /^#/ && NF >= 3 && $1 == prog && ($2 == mode || $2 == "*") {
			$1 = ""; $2 = ""; sub(/^ +/, ""); print; exit
		}' "$REAL_KNOWN"
}

# cr MODE PID DIR: checkpoints the tree of PID and restores it, or leaves
# it running; prints why not and fails when a step fails. The pid of the
# tree to check goes to DIR/rpid.
cr() {
	local mode=$1 pid=$2 dir=$3
	case $mode in
	dir)
		mkdir "$dir/ckpt" &&
			"$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" -D "$dir/ckpt" >>"$dir/cr.log" 2>&1 ||
			{ echo "dump: $(tail -n 1 "$dir/cr.log")"; return 1; }
		wait_gone $(pids_of "$dir/ckpt/pstree.img") >>"$dir/cr.log" || { echo "$(tail -n 1 "$dir/cr.log")"; return 1; }
		"$tools/criu-restore" -D "$dir/ckpt" -d --pidfile "$dir/rpid" >>"$dir/cr.log" 2>&1 ||
			{ echo "restore: $(tail -n 1 "$dir/cr.log")"; return 1; }
		;;
	stream)
		"$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" >"$dir/ckpt.tar" 2>>"$dir/cr.log" ||
			{ echo "dump: $(tail -n 1 "$dir/cr.log")"; return 1; }
		tar -xOf "$dir/ckpt.tar" pstree.img >"$dir/pstree.img" &&
			wait_gone $(pids_of "$dir/pstree.img") >>"$dir/cr.log" || { echo "$(tail -n 1 "$dir/cr.log")"; return 1; }
		"$tools/criu-restore" -d --pidfile "$dir/rpid" <"$dir/ckpt.tar" >>"$dir/cr.log" 2>&1 ||
			{ echo "restore: $(tail -n 1 "$dir/cr.log")"; return 1; }
		;;
	pipe)
		# The dump's error, when there is one, is the cause of the restore's.
		if ! "$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" 2>"$dir/dump.log" |
			"$tools/criu-restore" -d --pidfile "$dir/rpid" >>"$dir/cr.log" 2>&1; then
			if [ -s "$dir/dump.log" ]; then
				echo "seize | parasite: $(tail -n 1 "$dir/dump.log")"
			else
				echo "restore: $(tail -n 1 "$dir/cr.log")"
			fi
			return 1
		fi
		;;
	leave)
		mkdir "$dir/ckpt" &&
			"$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" --leave-running -D "$dir/ckpt" >>"$dir/cr.log" 2>&1 ||
			{ echo "dump --leave-running: $(tail -n 1 "$dir/cr.log")"; return 1; }
		echo "$pid" >"$dir/rpid"
		;;
	criu)
		mkdir "$dir/ckpt" &&
			"$CRIU" dump -t "$pid" -D "$dir/ckpt" -v4 -o dump.log >>"$dir/cr.log" 2>&1 ||
			{ echo "criu dump: $(criu_error "$dir/ckpt/dump.log")"; return 1; }
		wait_gone $(pids_of "$dir/ckpt/pstree.img") >>"$dir/cr.log" || { echo "$(tail -n 1 "$dir/cr.log")"; return 1; }
		"$CRIU" restore -D "$dir/ckpt" -d --pidfile "$dir/rpid" -v4 -o restore.log >>"$dir/cr.log" 2>&1 ||
			{ echo "criu restore: $(criu_error "$dir/ckpt/restore.log")"; return 1; }
		;;
	criu-leave)
		mkdir "$dir/ckpt" &&
			"$CRIU" dump -t "$pid" -D "$dir/ckpt" --leave-running -v4 -o dump.log >>"$dir/cr.log" 2>&1 ||
			{ echo "criu dump --leave-running: $(criu_error "$dir/ckpt/dump.log")"; return 1; }
		echo "$pid" >"$dir/rpid"
		;;
	esac
	[ "$(cat "$dir/rpid" 2>/dev/null)" = "$pid" ] || { echo "restored as pid $(cat "$dir/rpid" 2>/dev/null), not $pid"; return 1; }
}

# check_soon PROGRAM DIR PORT: the check before C/R, tried for up to 2 s:
# a counter that has to move since the state was taken (node's 10 ms
# ticks) may not have moved yet on a loaded machine.
check_soon() {
	local i why
	for ((i = 0; i < 20; i++)); do
		why=$("check_$1" "$2" "$3" 2>&1) && return 0
		sleep 0.1
	done
	echo "$why"
	return 1
}

# run_one PROGRAM MODE: one test; prints its verdict line.
run_one() {
	local prog=$1 mode=$2 dir port pid verdict= why t0=$SECONDS
	dir=$(mktemp -d "$work/$prog-$mode.XXXXXX") || return 1
	chmod 755 "$dir"
	port=$(free_port)
	if ! why=$("start_$prog" "$dir" "$port" 2>&1); then
		verdict="did not start: ${why:-$(tail -n 1 "$dir/log")}"
	elif ! why=$("state_$prog" "$dir" "$port" 2>&1); then
		verdict="no state: $why"
	elif ! why=$(check_soon "$prog" "$dir" "$port"); then
		verdict="fails before C/R: $why"
	fi
	pid=$(cat "$dir/pid" 2>/dev/null)
	if [ -z "$verdict" ]; then
		# What the clients left (a backend exiting, a connection being
		# closed) settles before the dump.
		sleep 0.5
		if ! why=$(cr "$mode" "$pid" "$dir"); then
			verdict=$why
		elif ! why=$("check_$prog" "$dir" "$port" 2>&1); then
			verdict="after C/R: $why"
		fi
	fi
	kill_tree "$pid"
	if [ -z "$verdict" ]; then
		echo "PASS  $prog/$mode ($((SECONDS - t0)) s)"
		result[$prog/$mode]=PASS
		passed=$((passed + 1))
		rm -rf "$dir"
		return
	fi
	result[$prog/$mode]=FAIL
	errors+=("$prog/$mode: $verdict")
	why=
	case $mode in criu*) ;; *) why=$(known "$prog" "$mode") ;; esac
	if [ -n "$why" ]; then
		echo "KNOWN $prog/$mode: $verdict ($((SECONDS - t0)) s; listed in real-known)"
		known=$((known + 1))
		return
	fi
	# The directory stays for a look, out of the work directory.
	mv "$dir" "${TMPDIR:-/tmp}/" && dir=${TMPDIR:-/tmp}/${dir##*/}
	echo "FAIL  $prog/$mode: $verdict ($((SECONDS - t0)) s, see $dir)"
	case $mode in criu*) ;; *) failed=$((failed + 1)) ;; esac
}

for prog in $programs; do
	if ! declare -F "start_$prog" >/dev/null; then
		echo "run-real: no program $prog"
		exit 2
	fi
done
for prog in $programs; do
	missing=$("have_$prog" | tr '\n' ' ')
	if [ -n "$missing" ]; then
		echo "SKIP  $prog: not installed: ${missing% }"
		skipped=$((skipped + 1))
		for mode in $modes; do result[$prog/$mode]=SKIP; done
		continue
	fi
	for mode in $modes; do
		run_one "$prog" "$mode"
	done
done

# The table: ours, then CRIU's.
echo
printf '%-13s' program
for mode in $modes; do printf ' %-10s' "$mode"; done
echo
for prog in $programs; do
	printf '%-13s' "$prog"
	for mode in $modes; do printf ' %-10s' "${result[$prog/$mode]:--}"; done
	echo
done
[ -n "${criu_version:-}" ] && echo "(criu, criu-leave: $criu_version)"
for e in "${errors[@]}"; do
	echo "  $e"
done
echo "real: $passed passed, $failed failed, $known known, $skipped skipped"
[ "$failed" -eq 0 ]
