#!/bin/bash
# run-runc.sh TOOLS [CRIU]
#
# runc drives our criu: Debian's runc checkpoints and restores a
# busybox container whose shell loop writes a counter into its rootfs,
# with TOOLS/criu first (runc --criu). After the restore the counter must
# go on from where it was (never back, never stuck), the container's pid
# that runc knows must be the restored shell, pid 1 of its namespace, and
# what the shell prints must come out of runc restore's standard output,
# which runc hands to criu by inherit-fd for the dumped stdio pipes. Cases:
#   plain     runc checkpoint; runc restore -d
#   leave     runc checkpoint --leave-running: the container counts on;
#             then it is stopped and restored from the images
#   predump   runc checkpoint --pre-dump --image-path pre, then
#             runc checkpoint --parent-path ../pre; runc restore -d
#   netns     as plain, the container's network namespace given by path
#             in config.json (one the script makes with ip netns add, as
#             Podman's network makes one): runc has criu dump it as
#             external (--external net[INODE]:extRootNetNS) and gives it
#             back on restore (inherit_fd extRootNetNS); the container
#             must be back in that namespace, with the address the script
#             gave its lo there
# With CRIU (a CRIU 4.x binary) the same cases run with CRIU first, side
# by side. Each case prints one line; the script closes with "N passed, N
# failed, N skipped" and exits non-zero if any failed. A failed case's
# directory is kept, with runc's and criu's logs, and named.
#
# Skipped with a message, never passed: not root, no runc, no static
# busybox (busybox-static) to make the rootfs from.
set -u

tools=$1
criu_oracle=${2:-}
timeout=${RUNC_TIMEOUT:-20}
cases=${RUNC_CASES:-plain leave predump netns}

if [ "$(id -u)" != 0 ]; then
	echo "run-runc: skipped: runc needs root"
	exit 0
fi
if ! command -v runc >/dev/null; then
	echo "run-runc: skipped: runc is not installed (apt-get install runc)"
	exit 0
fi
busybox=
for b in /bin/busybox /usr/bin/busybox; do
	if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then
		busybox=$b
		break
	fi
done
if [ -z "$busybox" ]; then
	echo "run-runc: skipped: no static busybox for the rootfs (apt-get install busybox-static)"
	exit 0
fi

passed=0
failed=0
skipped=0
base=$(mktemp -d "${TMPDIR:-/tmp}/run-runc.XXXXXX")

# make_bundle DIR [NETNS]: a rootfs of busybox, and runc's default spec
# with the counting loop as its process, no terminal, a writable root;
# with NETNS, its network namespace is that path.
make_bundle() {
	local b=$1 netns=${2:-}
	mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp"
	cp "$busybox" "$b/rootfs/bin/busybox"
	for a in sh sleep cat echo; do
		ln -s busybox "$b/rootfs/bin/$a"
	done
	(cd "$b" && runc spec) || return 1
	python3 - "$b/config.json" "$netns" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
if sys.argv[2]:
    for ns in c["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = sys.argv[2]
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c",
    "i=0; while :; do i=$((i+1)); echo $i > /count.tmp; mv /count.tmp /count; echo $i; sleep 0.05; done"]
c["root"]["readonly"] = False
json.dump(c, open(p, "w"), indent=1)
EOF
}

count() { cat "$1/rootfs/count" 2>/dev/null || echo 0; }

# advances DIR: the counter moves within the timeout.
advances() {
	local b=$1 first now i
	first=$(count "$b")
	for ((i = 0; i < timeout * 10; i++)); do
		now=$(count "$b")
		if [ "$now" -gt "$first" ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# printed_after FILE N: the container printed a count above N into FILE
# (its standard output after the restore: runc restore's, which runc
# passes to criu by inherit-fd) within the timeout.
printed_after() {
	local f=$1 n=$2 i
	for ((i = 0; i < timeout * 10; i++)); do
		if awk -v n="$n" '$1 ~ /^[0-9]+$/ && $1 > n { found = 1 } END { exit !found }' "$f" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# pid1_restored ID: the pid runc has for the container is pid 1 of its own
# PID namespace and runs the shell, and the container's /proc is of that
# namespace (its pid 1 is the shell, not the host's init).
pid1_restored() {
	local pid
	pid=$("${runc[@]}" state "$1" 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
	[ -n "$pid" ] && grep -qE "^NSpid:[[:space:]]+$pid[[:space:]]+1$" "/proc/$pid/status" &&
		[ "$(cat "/proc/$pid/comm")" = sh ] &&
		[ "$(cat "/proc/$pid/root/proc/1/comm")" = sh ]
}

# in_netns ID NETNS: the container's pid is in the network namespace at
# NETNS, where lo still has 10.79.0.1, and the dump's network lock is not
# left on there.
in_netns() {
	local pid
	pid=$("${runc[@]}" state "$1" 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
	[ -n "$pid" ] && [ "$(stat -L -c %i "/proc/$pid/ns/net")" = "$(stat -L -c %i "$2")" ] &&
		nsenter --net="$2" ip addr show dev lo | grep -q "inet 10.79.0.1/32" &&
		! nsenter --net="$2" iptables -w -S CRIU >/dev/null 2>&1
}

# run_case NAME CRIU: one case with the given criu binary.
run_case() {
	local name=$1 criu=$2 who=$3
	local dir=$base/$who-$name b id before after at_ckpt=0 why=
	b=$dir/bundle
	id=criugo-$who-$name-$$
	mkdir -p "$dir"
	local netns=
	if [ "$name" = netns ]; then
		# A namespace of the host's, as Podman's network makes one, with
		# an address on lo for the container to keep.
		netns=/run/netns/$id
		ip netns add "$id" && ip -n "$id" link set lo up && ip -n "$id" addr add 10.79.0.1/32 dev lo || why="ip netns add $id"
	fi
	[ -z "$why" ] && { make_bundle "$b" "$netns" || why="make bundle"; }
	local runc=(runc --criu "$criu" --log "$dir/runc.log")
	if [ -z "$why" ]; then
		# Its stdio are pipes, as a runtime's shim gives (a file or
		# /dev/null of the host would be on a mount the container does
		# not see, which CRIU refuses); runc passes them to the restore
		# by inherit-fd.
		(cd "$b" && "${runc[@]}" run -d "$id" < <(:) > >(cat >"$dir/ct.out") 2>&1) || why="runc run"
	fi
	[ -z "$why" ] && { advances "$b" || why="the container does not count before the checkpoint"; }
	if [ -z "$why" ]; then
		case $name in
		plain | netns)
			"${runc[@]}" checkpoint --image-path "$dir/img" --work-path "$dir/work" "$id" >"$dir/ckpt.out" 2>&1 || why="runc checkpoint"
			;;
		leave)
			# The images hold the count of the moment of the dump,
			# which the container then runs past before it is
			# stopped: the restored count starts from at least this.
			at_ckpt=$(count "$b")
			if ! "${runc[@]}" checkpoint --leave-running --image-path "$dir/img" --work-path "$dir/work" "$id" >"$dir/ckpt.out" 2>&1; then
				why="runc checkpoint --leave-running"
			elif ! advances "$b"; then
				why="the container does not count on after --leave-running"
			else
				"${runc[@]}" kill "$id" KILL >/dev/null 2>&1
				for ((i = 0; i < timeout * 10; i++)); do
					"${runc[@]}" state "$id" 2>/dev/null | grep -q '"status": "stopped"' && break
					sleep 0.1
				done
				"${runc[@]}" delete -f "$id" >/dev/null 2>&1
			fi
			;;
		predump)
			if ! "${runc[@]}" checkpoint --pre-dump --image-path "$dir/pre" --work-path "$dir/work-pre" "$id" >"$dir/pre.out" 2>&1; then
				why="runc checkpoint --pre-dump"
			elif ! "${runc[@]}" checkpoint --parent-path ../pre --image-path "$dir/img" --work-path "$dir/work" "$id" >"$dir/ckpt.out" 2>&1; then
				why="runc checkpoint --parent-path"
			fi
			;;
		esac
	fi
	if [ -z "$why" ]; then
		before=$(count "$b")
		sleep 0.3
		if [ "$(count "$b")" != "$before" ]; then
			why="the counter moved after the checkpoint: the container still runs"
		fi
		[ "$name" = leave ] && before=$at_ckpt
	fi
	if [ -z "$why" ]; then
		(cd "$b" && "${runc[@]}" restore -d --image-path "$dir/img" --work-path "$dir/work-restore" "$id" < <(:) > >(cat >"$dir/restore.out") 2>&1) || why="runc restore"
	fi
	if [ -z "$why" ]; then
		if ! advances "$b"; then
			why="the restored container does not count on"
		elif [ "$(count "$b")" -lt "$before" ]; then
			why="the counter went back: $(count "$b") < $before"
		elif ! "${runc[@]}" state "$id" 2>/dev/null | grep -q '"status": "running"'; then
			why="runc does not see the restored container running"
		elif ! printed_after "$dir/restore.out" "$before"; then
			why="the restored container's output does not reach runc restore's stdout (inherit-fd): $(tail -c 200 "$dir/restore.out" | tr '\n' ' ')"
		elif ! pid1_restored "$id"; then
			why="runc's container pid is not the restored shell as pid 1 of its namespace, with its /proc"
		elif [ -n "$netns" ] && ! in_netns "$id" "$netns"; then
			why="the restored container is not in its network namespace $netns with 10.79.0.1 on lo"
		fi
	fi
	"${runc[@]}" kill "$id" KILL >/dev/null 2>&1
	sleep 0.2
	"${runc[@]}" delete -f "$id" >/dev/null 2>&1
	[ -n "$netns" ] && ip netns del "$id"
	if [ "$who" = criu ] && grep -qs "CRIU is missing features" "$dir"/*.out; then
		# runc asks for memory tracking before a pre-dump; CRIU has only
		# soft-dirty, which this kernel may lack.
		echo "SKIP $who $name: runc says CRIU is missing features (no soft-dirty tracking on this kernel)"
		skipped=$((skipped + 1))
		rm -rf "$dir"
	elif [ -z "$why" ]; then
		echo "PASS $who $name"
		passed=$((passed + 1))
		rm -rf "$dir"
	else
		echo "FAIL $who $name: $why (kept: $dir)"
		for f in "$dir"/*.out "$dir"/work*/*.log; do
			[ -s "$f" ] && grep -m3 -iE "error|fail|not supported" "$f" | sed "s|^|    ${f#"$dir"/}: |"
		done
		failed=$((failed + 1))
	fi
}

for c in $cases; do
	run_case "$c" "$tools/criu" criugo
	if [ -n "$criu_oracle" ]; then
		run_case "$c" "$criu_oracle" criu
	fi
done
[ -z "$criu_oracle" ] && { echo "SKIP criu: no CRIU binary given: no side-by-side runs"; skipped=$((skipped + 1)); }
echo "$passed passed, $failed failed, $skipped skipped"
rmdir "$base" 2>/dev/null
[ "$failed" = 0 ]
