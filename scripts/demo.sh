#!/usr/bin/env bash
# The quick start: a process that counts is checkpointed through the
# pipeline (criu-seize | criu-parasite), killed, restored from its images
# with criu-restore, and shown counting on from where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin

if [ "$(id -u)" != 0 ]; then
	echo "demo: checkpoint/restore needs root (CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_CHECKPOINT_RESTORE)" >&2
	exit 1
fi

work=$(mktemp -d /tmp/criugo-demo.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# The counting process: writes 1, 2, 3, ... to a file every 100 ms.
cat >"$work/loop.c" <<'CEOF'
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[32];
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	for (unsigned long i = 1;; i++) {
		int n = snprintf(buf, sizeof(buf), "%lu\n", i);
		pwrite(fd, buf, n, 0);
		nanosleep(&ts, NULL);
	}
}
CEOF
gcc -O2 -o "$work/loop" "$work/loop.c"

count() { tr -d '\n' <"$work/counter"; }

# setsid -f: not this script's child, so nothing here reports its death
# and init reaps it when the dump kills it.
setsid -f "$work/loop" "$work/counter" </dev/null >/dev/null 2>&1
sleep 1
pid=$(pgrep -f "^$work/loop ")
echo "== started loop, pid $pid, counter at $(count)"

mkdir "$work/ckpt"
start=$(date +%s%N)
"$BIN/criu-seize" -t "$pid" | "$BIN/criu-parasite" -D "$work/ckpt"
end=$(date +%s%N)
echo "== dumped through criu-seize | criu-parasite in $(((end - start) / 1000000)) ms; images:"
echo "   $(ls "$work/ckpt" | tr '\n' ' ')"
# The dump killed it; wait until init has reaped it so its pid is free.
for _ in $(seq 100); do
	[ -e "/proc/$pid" ] || break
	sleep 0.1
done
if [ -e "/proc/$pid" ]; then
	echo "demo: pid $pid still exists 10 s after the dump" >&2
	exit 1
fi
before=$(count)
echo "== pid $pid is gone; counter stopped at $before"
"$BIN/crit" x "$work/ckpt" ps

"$BIN/criu-restore" -D "$work/ckpt" -d --pidfile "$work/restored.pid"
rpid=$(cat "$work/restored.pid")
echo "== restored as pid $rpid"
for _ in 1 2 3; do
	sleep 0.5
	echo "   counter: $(count)"
done
after=$(count)
kill -9 "$rpid" 2>/dev/null || true
pid=
if [ "$after" -le "$before" ]; then
	echo "demo: FAIL: the restored process does not count (before $before, after $after)" >&2
	exit 1
fi
echo "== the restored process counted on from $before to $after: checkpoint/restore works"
