#!/bin/bash
# run-podman.sh TOOLS [CRIU]
#
# Podman (through runc) drives our criu: a busybox container is
# checkpointed with `podman container checkpoint --export` and brought
# back with `podman container restore --import`, with TOOLS/criu first on
# PATH (Podman's runc finds criu there). The image is made by the script
# from a static busybox (podman import), once. Cases:
#   none      --network none: the container's counter goes on after the
#             restore
#   bridge    Podman's default network (netavark's bridge): runc has criu
#             dump the network namespace Podman made as external and gives
#             it the new one on restore; the counter goes on and a busybox
#             httpd in the container answers at the container's address
#             before and after
#   tcp       the default network and a connection from the host to a
#             `nc -l -e cat` in the container, open across `checkpoint
#             --tcp-established` / `restore --tcp-established`: it echoes
#             before and after
#   pod       a container in a pod, restored into it (--import --pod):
#             runc gives criu the pod's network namespace by inherit_fd
#             and its UTS and IPC namespaces by join_ns; after the restore
#             the container shares all three with the pod's infra
#             container and counts on
# With CRIU (a CRIU 4.x binary) the same cases run with it first on PATH,
# side by side. Each case prints one line; the script closes with "N
# passed, N failed, N skipped" and exits non-zero if any failed. A failed
# case's export and podman's output are kept and named.
#
# Skipped with a message, never passed: not root, no podman, no static
# busybox. Podman needs limits within the host's, as a root without
# CAP_SYS_RESOURCE cannot raise its own: the script gives its containers
# (a pod's infra container too) nofile and nproc limits of 1024 through a
# containers.conf of its own (CONTAINERS_CONF).
set -u

tools=$1
criu_oracle=${2:-}
timeout=${PODMAN_TIMEOUT:-20}
cases=${PODMAN_CASES:-none bridge tcp pod}
image=localhost/criugo-podman-bb

if [ "$(id -u)" != 0 ]; then
	echo "run-podman: skipped: needs root"
	exit 0
fi
if ! command -v podman >/dev/null; then
	echo "run-podman: skipped: podman is not installed (apt-get install podman)"
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
	echo "run-podman: skipped: no static busybox for the image (apt-get install busybox-static)"
	exit 0
fi

passed=0
failed=0
skipped=0
base=$(mktemp -d "${TMPDIR:-/tmp}/run-podman.XXXXXX")
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' >"$base/containers.conf"
export CONTAINERS_CONF=$base/containers.conf

if ! podman image exists "$image"; then
	mkdir -p "$base/rootfs/bin" "$base/rootfs/www"
	cp "$busybox" "$base/rootfs/bin/busybox"
	for a in sh sleep cat echo mkdir; do
		ln -s busybox "$base/rootfs/bin/$a"
	done
	tar -C "$base/rootfs" -cf - . | podman import - "$image" >/dev/null 2>&1 || { echo "run-podman: podman import failed"; exit 1; }
	rm -rf "$base/rootfs"
fi

# get URL: what httpd answers, or nothing.
get() {
	if command -v curl >/dev/null; then
		curl -s --max-time 3 "$1"
	else
		wget -q -T 3 -O - "$1"
	fi
}

# counts NAME: the container's counter moves within the timeout.
counts() {
	local first now i
	first=$(podman exec "$1" cat /www/count 2>/dev/null || echo 0)
	for ((i = 0; i < timeout * 10; i++)); do
		now=$(podman exec "$1" cat /www/count 2>/dev/null || echo 0)
		[ "$now" -gt "$first" ] && return 0
		sleep 0.1
	done
	return 1
}

# shares_pod CT POD: container CT is in the network, UTS and IPC
# namespaces of POD's infra container.
shares_pod() {
	local infra c p k
	infra=$(podman pod inspect "$2" --format '{{.InfraContainerID}}' 2>/dev/null)
	c=$(podman inspect "$1" --format '{{.State.Pid}}' 2>/dev/null)
	p=$(podman inspect "$infra" --format '{{.State.Pid}}' 2>/dev/null)
	[ -n "$c" ] && [ -n "$p" ] || return 1
	for k in net uts ipc; do
		[ "$(stat -L -c %i "/proc/$c/ns/$k")" = "$(stat -L -c %i "/proc/$p/ns/$k")" ] || return 1
	done
}

# run_case NAME PATHDIR WHO: one case with PATHDIR/criu first on PATH.
run_case() {
	local name=$1 pathdir=$2 who=$3
	local dir=$base/$who-$name ct=criugo-pm-$who-$name-$$ why= net= ip pod= podid=
	mkdir -p "$dir"
	[ "$name" = none ] && net="--network none"
	if [ "$name" = pod ]; then
		pod=$ct-pod
		podman pod create --name "$pod" >"$dir/podman.out" 2>&1 || why="podman pod create"
		podid=$(podman pod inspect "$pod" --format '{{.Id}}' 2>/dev/null)
		net="--pod $pod"
	fi
	local cmd='i=0; /bin/busybox httpd -p 8080 -h /www; /bin/busybox nc -l -p 9000 -e /bin/cat & while :; do i=$((i+1)); echo $i > /www/count; sleep 0.1; done'
	# shellcheck disable=SC2086
	[ -z "$why" ] && { PATH=$pathdir:$PATH podman run -d --name "$ct" $net "$image" sh -c "$cmd" >>"$dir/podman.out" 2>&1 || why="podman run"; }
	[ -z "$why" ] && { counts "$ct" || why="the container does not count before the checkpoint"; }
	ip=$(podman inspect "$ct" --format '{{.NetworkSettings.IPAddress}}' 2>/dev/null)
	if [ -z "$why" ] && [ "$name" != none ] && [ -z "$(get "http://$ip:8080/count")" ]; then
		why="httpd does not answer at $ip before the checkpoint"
	fi
	if [ -z "$why" ] && [ "$name" = tcp ]; then
		# The client holds its connection across the checkpoint and
		# restore it runs itself.
		python3 - "$ip" "$pathdir" "$ct" "$dir" >>"$dir/podman.out" 2>&1 <<'EOF' || why="the connection from the host does not echo across the checkpoint and restore: $(tail -n 1 "$dir/podman.out")"
import os, socket, subprocess, sys
ip, pathdir, ct, d = sys.argv[1:]
env = dict(os.environ, PATH=pathdir + ":" + os.environ["PATH"])
s = socket.create_connection((ip, 9000), timeout=10)
s.sendall(b"before\n")
assert s.recv(100) == b"before\n", "no echo before"
for args in (["checkpoint", "--tcp-established", "--export", d + "/export.tar", ct], ["rm", ct],
             ["restore", "--tcp-established", "--import", d + "/export.tar"]):
    subprocess.run(["podman", "container"] + args, env=env, check=True, stdout=subprocess.DEVNULL)
s.sendall(b"after\n")
got = s.recv(100)
assert got == b"after\n", "echo after the restore: %r" % got
EOF
	elif [ -z "$why" ]; then
		PATH=$pathdir:$PATH podman container checkpoint --export "$dir/export.tar" "$ct" >>"$dir/podman.out" 2>&1 || why="podman container checkpoint --export"
		[ -z "$why" ] && { podman rm "$ct" >>"$dir/podman.out" 2>&1 || why="podman rm"; }
		# shellcheck disable=SC2046
		[ -z "$why" ] && { PATH=$pathdir:$PATH podman container restore --import "$dir/export.tar" $([ -n "$podid" ] && echo --pod "$podid") >>"$dir/podman.out" 2>&1 || why="podman container restore --import"; }
	fi
	if [ -z "$why" ]; then
		if ! counts "$ct"; then
			why="the restored container does not count on"
		elif [ -n "$pod" ]; then
			shares_pod "$ct" "$pod" || why="the restored container does not share the pod's net, uts and ipc namespaces"
		elif [ "$name" != none ]; then
			ip=$(podman inspect "$ct" --format '{{.NetworkSettings.IPAddress}}' 2>/dev/null)
			[ -z "$(get "http://$ip:8080/count")" ] && why="httpd does not answer at $ip after the restore"
		fi
	fi
	podman rm -f -t 0 "$ct" >/dev/null 2>&1
	[ -n "$pod" ] && podman pod rm -f "$pod" >/dev/null 2>&1
	if [ -z "$why" ]; then
		echo "PASS $who $name"
		passed=$((passed + 1))
		rm -rf "$dir"
	else
		echo "FAIL $who $name: $why (kept: $dir)"
		grep -m3 -iE "error|fail" "$dir/podman.out" | sed "s|^|    |"
		failed=$((failed + 1))
	fi
}

oracle_dir=
if [ -n "$criu_oracle" ]; then
	oracle_dir=$base/criu-bin
	mkdir -p "$oracle_dir"
	ln -s "$criu_oracle" "$oracle_dir/criu"
fi
for c in $cases; do
	run_case "$c" "$tools" criugo
	[ -n "$oracle_dir" ] && run_case "$c" "$oracle_dir" criu
done
[ -z "$criu_oracle" ] && { echo "SKIP criu: no CRIU binary given: no side-by-side runs"; skipped=$((skipped + 1)); }
echo "$passed passed, $failed failed, $skipped skipped"
rm -rf "$oracle_dir"
rm -f "$base/containers.conf"
rmdir "$base" 2>/dev/null
[ "$failed" = 0 ]
