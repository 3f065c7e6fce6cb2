#!/bin/bash
# run-cr.sh TOOLS BINDIR PROGRAM...
#
# The C/R harness. For each test program and each way of moving it
# through the pipeline (MODES), start the program, wait for its pidfile,
# checkpoint it with the tools in TOOLS, restore it, send SIGTERM to the
# restored task and expect PASS in its outfile: the program checks its own
# state (see README.md). Each program has already passed without C/R
# (run-selfcheck.sh), so a failure here comes from C/R.
#
# Modes:
#   dir       criu-seize | criu-parasite -D DIR; criu-imgtool verify;
#             Debian's crit (if installed) decodes every image;
#             criu-restore -D DIR -d
#   stream    criu-seize | criu-parasite > ckpt.tar; criu-restore -d < ckpt.tar
#   zstd      as stream, through criu-imgtool compress
#   pipe      criu-seize | criu-parasite | criu-restore -d   (nothing on disk)
#   twice     dir, then the restored tree is dumped and restored again
#   predump   criu-parasite --pre-dump -D DIR/pre (the tree runs on, its
#             writes tracked), then criu-parasite -D DIR/ckpt
#             --prev-images-dir ../pre --auto-dedup (what it dumps again
#             is punched out of pre); verify; criu-restore -D DIR/ckpt -d
#   leave     criu-parasite --leave-running: the original goes on and passes
#   criu      our criu, CRIU's command line: criu dump -t PID -D DIR, then
#             criu restore -D DIR -d, with the programs' options and
#             criu_opts
#   to-criu   criu-seize | criu-parasite -D DIR; CRIU's `criu restore` of DIR
#   from-criu CRIU's `criu dump` of the tree; criu-restore -D DIR
#   shape     our dump and CRIU's of the same live tree, both with
#             --leave-running, into DIR/ours and DIR/criu; `criu-imgtool
#             diff --shape` must find the same kinds of images, as many of
#             each and the same fields set, but for the differences
#             shape-known lists with their reason; the original goes on
#             and passes
#
# The last three run when CRIU names a CRIU binary (4.x) that passes
# `criu check` (scripts/build-criu.sh builds CRIU 4.2.1); without one they
# are skipped and the harness says so. Where CRIU cannot do its side for
# a program (criu_cannot) the test is skipped with the reason; where it
# cannot for part of a program's state (criu_cannot_part) that part is
# reported skipped with the reason and the program runs without it.
#
# Prints one line per test and closes with "N passed, N failed, N
# skipped"; exits non-zero if any failed. A failed test's directory is kept and named.
# Environment: CR_MODES (default: all of the above), CR_TIMEOUT (seconds
# per wait, default 20), CRIU, SHAPE_KNOWN (default: shape-known beside
# this script), TMPDIR.

set -u

tools=$1
bindir=$2
shift 2
timeout=${CR_TIMEOUT:-20}
modes=${CR_MODES:-dir stream zstd pipe twice predump leave criu to-criu from-criu shape}
DEBIAN_CRIT=${DEBIAN_CRIT:-/usr/bin/crit}
CRIU=${CRIU:-}
SHAPE_KNOWN=${SHAPE_KNOWN:-$(dirname "$0")/shape-known}

if [ "$(id -u)" != 0 ]; then
	echo "run-cr: skipped: checkpoint/restore tests need root (CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_CHECKPOINT_RESTORE)"
	exit 0
fi

# The programs get no descriptor but 0-2 from us: whatever the caller let
# leak (a CI runner's pipe, a terminal's fd 10) would be dumped as theirs,
# and CRIU refuses some of those (a file on a mount it cannot see).
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then
		eval "exec $fd>&-"
	fi
done

. "$(dirname "$0")/lib.sh"
skipped=0

# Without a working CRIU binary the interop modes are dropped, loudly.
case " $modes " in
*" to-criu "* | *" from-criu "* | *" shape "*)
	why=
	if [ -z "$CRIU" ]; then
		why="CRIU is not set"
	elif ! "$CRIU" check >/dev/null 2>&1; then
		why="$CRIU check fails"
	fi
	if [ -n "$why" ]; then
		echo "run-cr: CRIU interop modes (to-criu, from-criu, shape) skipped: $why (scripts/build-criu.sh builds CRIU 4.2.1)"
		modes=$(echo " $modes " | sed 's/ to-criu / /; s/ from-criu / /; s/ shape / /')
	else
		echo "run-cr: CRIU interop modes against $("$CRIU" --version | head -n 1)"
	fi
	;;
esac

# dump_opts PROGRAM DIR: options criu-parasite needs for the program's
# state, as CRIU's own tests pass them (locks holds file locks:
# --file-locks; tcp and mptcp have established connections:
# --tcp-established; linkremap holds deleted files linked elsewhere:
# --link-remap; mntopts a ramfs, mounted anew, and a tmpfs left out).
dump_opts() {
	case $1 in
	mntopts) echo "--enable-fs ramfs --skip-mnt $2/skipped" ;;
	locks) echo "--file-locks" ;;
	tcp | mptcp | netns | tcpbig | tcpfin | usernsnet | tcpext) echo "--tcp-established" ;;
	netext) echo "--tcp-established --external net[$(stat -L -c %i "$netext_ns")]:crtest-netext" ;;
	linkremap) echo "--link-remap" ;;
	cgroup | cgroupns) echo "--manage-cgroups=soft" ;;
	tcpclosed) echo "--tcp-close --skip-in-flight" ;;
	esac
}

# restore_opts PROGRAM DIR: options a restore needs for the program (netns:
# the outer end of its veth, which the peer outside takes back, named in
# DIR/veth by the program, so that two of its tests never share it; netext:
# its external network namespace, open as fd 9 while the test runs).
restore_opts() {
	case $1 in
	netns) echo "--external veth[ceth0]:$(cat "$2/veth")" ;;
	netext) echo "--inherit-fd fd[9]:crtest-netext" ;;
	tcpclosed) echo "--tcp-close" ;;
	esac
}

# criu_opts dump|restore PROGRAM DIR: more options for the criu mode, in
# CRIU's syntax (mntns: its bind of src/ declared an external mount, a
# KEY in the images that the restore binds src/ to again; netns: the
# network locked with nftables rather than the default iptables; tcpext:
# its connection locked with CRIU's nftables set, ours with iptables).
criu_opts() {
	case $1/$2 in
	dump/mntns) echo "--external mnt[$3/bind]:crtest-src" ;;
	restore/mntns) echo "--external mnt[crtest-src]:$3/src" ;;
	dump/netns) echo "--network-lock nftables" ;;
	dump/tcpext) echo "--network-lock nftables" ;;
	esac
}

# drop_cgroups DIR: removes the cgroups a program listed in DIR/cgroups
# (cgroup, cgroupns), innermost first, once their tasks are gone: between
# a dump and its restore in the stream, to-criu and from-criu modes, so
# that the restore must make them again with their limits (the other
# modes leave them for the restore to reuse), and after each test.
drop_cgroups() {
	[ -s "$1/cgroups" ] || return 0
	local d tries
	for d in $(tac "$1/cgroups"); do
		tries=0
		while [ -d "$d" ] && ! rmdir "$d" 2>/dev/null && [ $tries -lt 40 ]; do
			sleep 0.05
			tries=$((tries + 1))
		done
	done
}

# criu_cannot PROGRAM MODE: says why CRIU itself cannot do its side of an
# interop mode for PROGRAM (nothing when it can); such tests are skipped
# and counted as skipped.
criu_cannot() {
	case $1/$2 in
	unix/from-criu | unix/shape) echo "CRIU cannot dump an in-flight unix socket with queued data (sk-unix.c: Non-empty write queue on an in-flight socket)" ;;
	unixdel/to-criu) echo "CRIU's restore makes the deleted directory of a relative socket name again and leaves it there (sk-unix.c bind_on_deleted: ghost_dir_pos stays 0 when no leading part of the relative name exists, so its rmdir loop is skipped)" ;;
	mptcp/to-criu) echo "CRIU cannot restore an MPTCP listener (sk-inet.c: open_inet_sk refuses a listening socket whose proto is not IPPROTO_TCP, 'Wrong socket in listen state 262')" ;;
	mntns/to-criu) echo "CRIU cannot restore a mount namespace without --root (mount.c: 'The --root option is required to restore a mount namespace'; without --mntns-compat-mode it hits BUG_ON in service_mountpoint)" ;;
	mntopts/to-criu) echo "CRIU cannot restore a mount namespace without --root (as for mntns)" ;;
	mntopts/from-criu | mntopts/shape) echo "CRIU cannot dump a task whose binary is on a mount of the namespace it left (as for mntns)" ;;
	mntns/from-criu | mntns/shape) echo "CRIU cannot dump a task whose binary and log are on mounts of the namespace it left (files-reg.c: 'Can't lookup mount=N for fd=-3')" ;;
	usernspid/to-criu) echo "CRIU's restore of a user namespace without a mount namespace of the tree's own fails: its root, in the new user namespace, mounts a proc of its own in the host's mount namespace, which that user namespace does not own (cr-restore.c mount_proc -> util.c:1621 mount_detached_fs, fsopen(\"proc\"): EPERM)" ;;
	usernspid/from-criu | usernspid/shape) echo "CRIU's dump needs a /proc of the init's pid namespace and, the host's /proc being another's, has its parasite mount one, which a task of the user namespace cannot do in the host's mount namespace (pie/parasite.c:634 get_proc_fd: mkdir EACCES, then mount EPERM)" ;;
	usernsmnt/to-criu) echo "CRIU's restore makes a proc from inside the new user namespace for the host's pid namespace, which that user namespace does not own (cr-restore.c mount_proc -> util.c:1626 mount_detached_fs, fsconfig CREATE: EPERM)" ;;
	usernsmnt/from-criu | usernsmnt/shape) echo "CRIU cannot dump a task whose binary is on a mount of the namespace it left (files-reg.c:1790: 'Can't lookup mount=N for fd=-3'), as for mntns" ;;
	usernsnet/from-criu) echo "CRIU's dump reads net.ipv4.ping_group_range of a network namespace a user namespace owns from outside it, where the namespace's gids 0 7 show as the overflow gid (65534 65534), and restores that (net.c ipv4_sysctls_op)" ;;
	userns/to-criu | usernsnet/to-criu) echo "CRIU's restore of a user namespace without a mount namespace of the tree's own fails: its root, in the new user namespace, mounts a proc of its own in the host's mount namespace, which that user namespace does not own (cr-restore.c mount_proc -> util.c:1621 mount_detached_fs, fsopen(\"proc\"): EPERM)" ;;
	mseal/to-criu) echo "CRIU's restore does not seal a mapping again: CRIU 4.2.1 knows nothing of mseal(2) (no VmFlags \"sl\" in proc_parse.c, no seal in its restorer) and skips criugo's own vma_entry field criugo_sealed" ;;
	mseal/from-criu) echo "CRIU's dump does not record that a mapping was sealed: CRIU 4.2.1 knows nothing of mseal(2) (proc_parse.c ignores VmFlags \"sl\"; vma_entry has no place for it)" ;;
	mptcp/from-criu | mptcp/shape) echo "CRIU cannot dump an MPTCP socket (sk-inet.c: can_dump_ipproto, 'Unsupported proto 262')" ;;
	pidnsnest/from-criu | pidnsnest/shape) echo "CRIU cannot dump a pid namespace nested below the root's (namespaces.c:460 generate_ns_id: 'Can't dump nested pid namespace')" ;;
	pidnsnest/to-criu) echo "CRIU's images have one pid per task (pstree_entry) and its restore makes a pid namespace for the root alone (pstree.c: only the root keeps CLONE_NEWPID); the ids below it are in criugo's nspid.img, which CRIU does not read" ;;
	esac
}

# criu_cannot_part PROGRAM MODE: says which part of PROGRAM's state CRIU
# cannot do its side of MODE for, and why (nothing when it can do all);
# prog_env leaves that part out, and the harness reports it as one more
# skipped test beside the test of the rest.
#
# pty/from-criu, pty/shape: output queued at a master in packet mode.
# CRIU's dump reads it out with each read's status byte (TIOCPKT_DATA) and
# keeps that byte in tty-data.img as data (tty.c: tty_do_dump_queued_data),
# so the reader gets a NUL before it, after CRIU's restore or, with
# --leave-running, after CRIU writes the data back; our dump keeps the
# data alone.
criu_cannot_part() {
	case $1/$2 in
	cgroupns/from-criu) echo "the limits on the cgroup namespace's root: CRIU's dump records only the cgroups below each task's own (cgroup.c: collect_cgroups walks from the member's path), so the harness leaves the cgroups for the restore to reuse" ;;
	pty/from-criu | pty/shape) echo "output queued at a packet-mode pty master: CRIU's dump keeps each read's packet status byte in tty-data.img as data (tty.c: tty_do_dump_queued_data)" ;;
	opath/from-criu | opath/shape) echo "an O_PATH fd of a FIFO: CRIU's dump reads its pipe data through it and fails (pipes.c: 'Can't obtain piped data size')" ;;
	nsfd/to-criu) echo "an fd of a namespace no task of the tree is in (the starting UTS namespace, the host's): CRIU's restore opens an nsfs fd only from a task in its namespace (namespaces.c: open_ns_fd, 'Can't find suitable NS ID')" ;;
	seqpacket/from-criu | seqpacket/shape) echo "a packet in a seqpacket connection not accepted yet: CRIU cannot dump an in-flight unix socket with queued data (sk-unix.c: Non-empty write queue on an in-flight socket)" ;;
	devtty/to-criu) echo "/dev/tty held by two fds: CRIU's restore waits forever for the second (tty.c/files.c: 'Receive fd for 7' after opening the ctty, on CRIU's own dump of devtty as well)" ;;
	rawip/to-criu) echo "the echo identifiers of ping sockets: CRIU's restore does not bind an ICMP socket (sk-inet.c: open_inet_sk skips inet_bind for IPPROTO_ICMP/ICMPV6), which takes a new identifier when it next sends" ;;
	console/to-criu | console/from-criu | console/shape) echo "an fd of /dev/tty0: CRIU knows no tty driver for minor 0 of the tty major (tty.c: get_tty_driver returns NULL, so its dump says \"Can't dump file ... chr 4:0\" and its restore \"Unable to find a tty driver\")" ;;
	deldir/to-criu) echo "the removed parent of a deleted directory held open: CRIU's restore makes it again for the ghost and leaves it there" ;;
	esac
}

# prog_env PROGRAM MODE: environment for the program in MODE. CRIU's
# restore leaves personality(2) as criu's own, so creds does not set or
# check it when CRIU restores it; CRIU does not restore a
# terminal's exclusive mode (TIOCEXCL), so pty does not set it then, and
# leaves no output queued at its packet-mode master when CRIU dumps it
# (criu_cannot_part); nsfd holds no fd of the host's UTS namespace when
# CRIU restores it, and opath no O_PATH fd of a FIFO when CRIU dumps it
# (criu_cannot_part).
prog_env() {
	case $1/$2 in
	creds/to-criu) echo "CREDS_NO_PERSONALITY=1" ;;
	deldir/to-criu) echo "DELDIR_PARENT_STAYS=1" ;;
	seqpacket/from-criu | seqpacket/shape) echo "SEQPACKET_NO_EARLY=1" ;;
	tcpclosed/leave | tcpclosed/shape) ;;
	tcpclosed/*) echo "TCPCLOSED_EXPECT=closed" ;;
	pty/to-criu) echo "PTY_NO_EXCL=1" ;;
	rawip/to-criu) echo "RAWIP_NO_IDENT=1" ;;
	devtty/to-criu) echo "DEVTTY_ONE=1" ;;
	nsfd/to-criu) echo "NSFD_NO_OWN_UTS=1" ;;
	opath/from-criu | opath/shape) echo "OPATH_NO_FIFO=1" ;;
	pty/from-criu | pty/shape) echo "PTY_NO_PKT_DATA=1" ;;
	netext/*) echo "NETEXT_NS=$netext_ns" ;;
	console/to-criu | console/from-criu) echo "CONSOLE_NO_TTY0=1 CONSOLE_CTTY=1" ;;
	console/shape) echo "CONSOLE_NO_TTY0=1" ;;
	console/stream | console/twice) echo "CONSOLE_NO_TTY0=1 CONSOLE_CTTY=1" ;;
	esac
}

# netext_ns: the network namespace the netext program runs in, made for
# each of its tests (ip netns add) as a container runtime makes one, and
# removed after; run_one starts the program in it (prog_wrap) and holds it
# open as fd 9 for the dump and restore tools (restore_opts).
netext_ns=/run/netns/crtest-netext-$$

# prog_wrap PROGRAM: the command PROGRAM is started through.
prog_wrap() {
	case $1 in
	netext) echo "nsenter --net=$netext_ns" ;;
	esac
}

# shape_unknown PROGRAM DIFF: the lines of DIFF (the output of
# `criu-imgtool diff --shape`, "KIND PATH: A ..., B ...") that
# SHAPE_KNOWN does not list for PROGRAM. Its lines are
# "PROGRAM KIND PATH REASON...", PROGRAM * for every program; a line
# without a reason lists nothing.
shape_unknown() {
	awk -v prog="$1" '
		FILENAME == ARGV[1] {
			if ($1 !~ /^#/ && NF >= 4 && ($1 == prog || $1 == "*")) known[$2 " " $3] = 1
			next
		}
		{ key = $1 " " $2; sub(/:$/, "", key); if (!(key in known)) print }
	' "$SHAPE_KNOWN" "$2"
}

# pidns_init PSTREE_IMG: whether the tree's root is pid 1, the init of a
# pid namespace of its own: pstree.img then gives every pid as that
# namespace does, and the root's pid outside is not kept (CRIU's format
# has no place for it).
pidns_init() {
	[ "$("$tools/crit" decode -i "$1" | grep -o '"pid": [0-9]*' | head -n 1 | grep -o '[0-9]*$')" = 1 ]
}

# tree_pids PID PSTREE_IMG: the pids a restore of the tree dumped from PID
# takes: pstree.img's, or PID alone for a tree in a pid namespace of its
# own (the rest go with its init).
tree_pids() {
	if pidns_init "$2"; then
		echo "$1"
	else
		pids_of "$2"
	fi
}

# debian_crit DIR: CRIU's own crit (Debian's python crit, an independent
# decoder) must decode every image of DIR; raw pages and tmpfs tars have no decoding.
debian_crit() {
	local f
	[ -x "$DEBIAN_CRIT" ] || return 0
	for f in "$1"/*; do
		# ip(8), iptables and nft dumps and tmpfs tars are raw: crit has no decoding.
		# nspid.img is criugo's own kind (nested pid namespaces, which CRIU cannot dump).
		case ${f##*/} in pages-* | tmpfs-*.tar.gz.img | ifaddr-* | route-* | route6-* | rule-* | iptables-* | ip6tables-* | nftables-* | nspid.img) continue ;; esac
		"$DEBIAN_CRIT" decode -i "$f" -o /dev/null || { echo "Debian's crit cannot decode ${f##*/}"; return 1; }
	done
}

# dump MODE PID DIR: checkpoint the tree of PID; the tree is killed.
# Leaves the images in DIR/ckpt (dir modes) or DIR/ckpt.tar.
dump() {
	local mode=$1 pid=$2 dir=$3
	case $mode in
	criu)
		rm -rf "$dir/ckpt" && mkdir "$dir/ckpt" || return 1
		# shellcheck disable=SC2046
		"$tools/criu" dump -t "$pid" -D "$dir/ckpt" $popts $(criu_opts dump "$prog" "$dir") -v4 -o dump.log || { criu_error "$dir/ckpt/dump.log"; return 1; }
		# shellcheck disable=SC2046
		wait_gone $(tree_pids "$pid" "$dir/ckpt/pstree.img")
		;;
	dir | twice)
		rm -rf "$dir/ckpt" && mkdir "$dir/ckpt" || return 1
		"$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" $popts -D "$dir/ckpt" || return 1
		"$tools/criu-imgtool" verify -D "$dir/ckpt" >/dev/null || return 1
		[ "$mode" = dir ] && { debian_crit "$dir/ckpt" || return 1; }
		# shellcheck disable=SC2046
		wait_gone $(tree_pids "$pid" "$dir/ckpt/pstree.img")
		;;
	predump)
		rm -rf "$dir/pre" "$dir/ckpt" && mkdir "$dir/pre" "$dir/ckpt" || return 1
		"$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" $popts --pre-dump -D "$dir/pre" || return 1
		"$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" $popts -D "$dir/ckpt" --prev-images-dir ../pre --auto-dedup || return 1
		"$tools/criu-imgtool" verify -D "$dir/ckpt" >/dev/null || return 1
		# shellcheck disable=SC2046
		wait_gone $(tree_pids "$pid" "$dir/ckpt/pstree.img")
		;;
	stream | zstd)
		rm -f "$dir/ckpt.tar" "$dir/ckpt.tar.zst"
		"$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" $popts >"$dir/ckpt.tar" || return 1
		tar -xOf "$dir/ckpt.tar" pstree.img >"$dir/pstree.img" || return 1
		if [ "$mode" = zstd ]; then
			"$tools/criu-imgtool" compress -i "$dir/ckpt.tar" -o "$dir/ckpt.tar.zst" || return 1
			mv "$dir/ckpt.tar.zst" "$dir/ckpt.tar"
		fi
		"$tools/criu-imgtool" verify -i "$dir/ckpt.tar" >/dev/null || return 1
		# shellcheck disable=SC2046
		wait_gone $(tree_pids "$pid" "$dir/pstree.img")
		drop_cgroups "$dir"
		;;
	esac
}

# restore MODE DIR: restore what dump left, detached; the root pid goes to DIR/rpid.
restore() {
	local mode=$1 dir=$2
	rm -f "$dir/rpid"
	case $mode in
	dir | twice | predump) "$tools/criu-restore" -D "$dir/ckpt" -d --pidfile "$dir/rpid" $ropts ;;
	stream | zstd) "$tools/criu-restore" -d --pidfile "$dir/rpid" $ropts <"$dir/ckpt.tar" ;;
	# shellcheck disable=SC2046
	criu) "$tools/criu" restore -D "$dir/ckpt" -d --pidfile "$dir/rpid" $ropts $(criu_opts restore "$prog" "$dir") -v4 -o restore.log || { criu_error "$dir/ckpt/restore.log"; return 1; } ;;
	esac
}

# check PID DIR: SIGTERM (again every second, as the protocol asks) until
# the outfile appears; prints the verdict.
check() {
	local pid=$1 dir=$2 round=0
	while [ $round -lt "$timeout" ]; do
		kill -TERM "$pid" 2>/dev/null
		wait_file "$dir/out" 1 && break
		round=$((round + 1))
	done
	if [ -s "$dir/out" ]; then
		head -n 1 "$dir/out"
	else
		echo "no outfile after SIGTERM"
	fi
}

# run_one PROGRAM MODE: one test; prints its verdict line.
run_one() {
	local prog=$1 mode=$2 dir pid verdict= rpid why pstree
	why=$(criu_cannot "$prog" "$mode")
	if [ -n "$why" ]; then
		echo "SKIP  $prog/$mode: $why"
		skipped=$((skipped + 1))
		return 0
	fi
	why=$(criu_cannot_part "$prog" "$mode")
	if [ -n "$why" ]; then
		echo "SKIP  $prog/$mode (part): $why"
		skipped=$((skipped + 1))
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/criugo-cr.XXXXXX") || return 1
	if [ "$prog" = netext ]; then
		ip netns add "${netext_ns##*/}" || { echo "FAIL  $prog/$mode: ip netns add ${netext_ns##*/}"; failed=$((failed + 1)); return 0; }
	fi
	popts=$(dump_opts "$prog" "$dir")
	# The tcp program's connection runs over loopback inside the tree:
	# CRIU need not lock the network (it would with iptables).
	copts=
	case $prog in tcp | tcpclosed | tcpbig | tcpfin) copts="--network-lock skip" ;; esac
	# setsid -f: the program is not this shell's child, so init reaps it
	# when a dump kills it and its pid is free again for the restore.
	# shellcheck disable=SC2046
	setsid -f env $(prog_env "$prog" "$mode") $(prog_wrap "$prog") "$bindir/$prog" $(args "$prog" "$dir") </dev/null >"$dir/log" 2>&1
	[ "$prog" = netext ] && exec 9<"$netext_ns"
	if ! wait_file "$dir/pid" "$timeout"; then
		verdict="no pidfile"
	fi
	pid=$(cat "$dir/pid" 2>/dev/null)
	ropts=$(restore_opts "$prog" "$dir")
	if [ -z "$verdict" ]; then
		case $mode in
		leave)
			mkdir "$dir/ckpt"
			if ! "$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" $popts --leave-running -D "$dir/ckpt" >"$dir/cr.log" 2>&1; then
				verdict="dump --leave-running failed: $(tail -n 1 "$dir/cr.log")"
			elif ! "$tools/criu-imgtool" verify -D "$dir/ckpt" >>"$dir/cr.log" 2>&1; then
				verdict="verify failed: $(tail -n 1 "$dir/cr.log")"
			else
				rpid=$pid
			fi
			;;
		to-criu)
			# Our dump, CRIU's restore.
			mkdir "$dir/ckpt"
			if ! "$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" $popts -D "$dir/ckpt" >"$dir/cr.log" 2>&1; then
				verdict="dump failed: $(tail -n 1 "$dir/cr.log")"
			elif ! wait_gone $(tree_pids "$pid" "$dir/ckpt/pstree.img") >>"$dir/cr.log"; then
				verdict="dumped tree still there: $(tail -n 1 "$dir/cr.log")"
			elif ! drop_cgroups "$dir" || ! "$CRIU" restore -D "$dir/ckpt" -d --pidfile "$dir/rpid" $popts $copts $ropts -v4 -o restore.log >>"$dir/cr.log" 2>&1; then
				verdict="criu restore failed: $(criu_error "$dir/ckpt/restore.log")"
			else
				rpid=$(cat "$dir/rpid")
			fi
			;;
		from-criu)
			# CRIU's dump, our restore.
			mkdir "$dir/ckpt"
			if ! "$CRIU" dump -t "$pid" -D "$dir/ckpt" $popts $copts -v4 -o dump.log >"$dir/cr.log" 2>&1; then
				verdict="criu dump failed: $(criu_error "$dir/ckpt/dump.log")"
			elif ! wait_gone $(tree_pids "$pid" "$dir/ckpt/pstree.img") >>"$dir/cr.log"; then
				verdict="dumped tree still there: $(tail -n 1 "$dir/cr.log")"
			elif { [ "$prog" != cgroupns ] && ! drop_cgroups "$dir"; } || ! "$tools/criu-restore" -D "$dir/ckpt" -d --pidfile "$dir/rpid" $ropts >>"$dir/cr.log" 2>&1; then
				verdict="restore failed: $(tail -n 1 "$dir/cr.log")"
			else
				rpid=$(cat "$dir/rpid")
			fi
			;;
		shape)
			# Ours and CRIU's dump of the same live tree, compared by shape.
			mkdir "$dir/ours" "$dir/criu"
			if ! "$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" $popts --leave-running -D "$dir/ours" >"$dir/cr.log" 2>&1; then
				verdict="dump --leave-running failed: $(tail -n 1 "$dir/cr.log")"
			elif ! "$CRIU" dump -t "$pid" -D "$dir/criu" --leave-running $popts $copts -v4 -o dump.log >>"$dir/cr.log" 2>&1; then
				verdict="criu dump --leave-running failed: $(criu_error "$dir/criu/dump.log")"
			else
				"$tools/criu-imgtool" diff --shape "$dir/ours" "$dir/criu" >"$dir/shape.diff" 2>>"$dir/cr.log"
				case $? in
				0 | 1)
					if ! shape_unknown "$prog" "$dir/shape.diff" >"$dir/shape.unknown" 2>>"$dir/cr.log"; then
						verdict="cannot read $SHAPE_KNOWN: $(tail -n 1 "$dir/cr.log")"
					elif [ -s "$dir/shape.unknown" ]; then
						verdict="ours (A) and CRIU's (B) differ in $(wc -l <"$dir/shape.unknown") ways, first $(head -n 1 "$dir/shape.unknown")"
					else
						rpid=$pid
					fi
					;;
				*) verdict="criu-imgtool diff failed: $(tail -n 1 "$dir/cr.log")" ;;
				esac
			fi
			;;
		pipe)
			# The restore reads while the dump writes; the tree dies only
			# once the whole stream is out, and the restore waits for its pids.
			if ! "$tools/criu-seize" -t "$pid" | "$tools/criu-parasite" $popts | "$tools/criu-restore" -d --pidfile "$dir/rpid" $ropts >"$dir/cr.log" 2>&1; then
				verdict="seize | parasite | restore failed: $(tail -n 1 "$dir/cr.log")"
			else
				rpid=$(cat "$dir/rpid")
			fi
			;;
		*)
			rounds=1
			[ "$mode" = twice ] && rounds=2
			rpid=$pid
			rm -f "$dir/pstree.img"
			for round in $(seq $rounds); do
				if ! dump "$mode" "$rpid" "$dir" >"$dir/cr.log" 2>&1; then
					verdict="dump $round failed: $(tail -n 1 "$dir/cr.log")"
					break
				fi
				if ! restore "$mode" "$dir" >>"$dir/cr.log" 2>&1; then
					verdict="restore $round failed: $(tail -n 1 "$dir/cr.log")"
					break
				fi
				rpid=$(cat "$dir/rpid")
				pstree=$dir/ckpt/pstree.img
				[ -f "$dir/pstree.img" ] && pstree=$dir/pstree.img
				if [ "$rpid" != "$pid" ] && ! pidns_init "$pstree"; then
					verdict="restored as pid $rpid, not $pid"
					break
				fi
			done
			;;
		esac
	fi
	if [ -z "$verdict" ]; then
		verdict=$(resume_stopped "$prog" "$rpid")
	fi
	if [ -z "$verdict" ]; then
		verdict=$(check "$rpid" "$dir")
	fi
	# Whatever is left of the tree goes (the program leads its session).
	[ -n "$pid" ] && kill -KILL "-$pid" 2>/dev/null
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	pkill -KILL -f "$dir/" 2>/dev/null
	[ -n "$pid" ] && wait_gone "$pid" >/dev/null
	drop_cgroups "$dir"
	if [ "$prog" = netext ]; then
		exec 9<&-
		ip netns del "${netext_ns##*/}"
	fi
	if [ "$verdict" = PASS ]; then
		echo "PASS  $prog/$mode"
		passed=$((passed + 1))
		[ -n "$pid" ] && wait_gone "$pid" >/dev/null
		rm -rf "$dir"
	else
		echo "FAIL  $prog/$mode: $verdict (see $dir)"
		failed=$((failed + 1))
	fi
}

for prog in "$@"; do
	for mode in $modes; do
		run_one "$prog" "$mode"
	done
done

echo "cr: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
