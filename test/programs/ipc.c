/* ipc: an IPC namespace of its own with SysV objects.
 *   unshare(CLONE_NEWIPC) before the pidfile is written (as an ordinary
 *   user, inside a new user namespace so that the selfcheck runs);
 *   a 3-page+100-byte shm segment (key 0x51ea, mode 0640) attached and
 *   filled with a pattern but its third page never touched; a second,
 *   IPC_PRIVATE segment, not attached, holding a string; a set of 5
 *   semaphores (key 0x5e3a) with values 1 2 3 40 5; a message queue (key
 *   0x3e55) with 3 messages of types 5, 1, 7.
 * Checks: every id and key, modes, sizes; the attached segment at the
 *   same address with its pattern (and the untouched page zero), shared
 *   with a fresh attach; the private segment's string; the semaphore
 *   values; the messages in order, each with its type and text. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include "crtest.h"

#define SHM_KEY 0x51ea
#define SEM_KEY 0x5e3a
#define MSG_KEY 0x3e55
#define SHM_SIZE (3 * 4096 + 100)
#define NSEMS 5
#define PRIV_TEXT "private segment text"

static const unsigned short semvals[NSEMS] = { 1, 2, 3, 40, 5 };
static const struct {
	long type;
	const char *text;
} msgs[] = { { 5, "first message" }, { 1, "second, of type 1" }, { 7, "third and last message here" } };
#define NMSGS 3

struct msgbuf_ {
	long mtype;
	char mtext[256];
};

static unsigned char pattern(int i) { return (unsigned char)(i * 7 + 3); }

int main(int argc, char **argv)
{
	crt_init(argc, argv);
	int flags = CLONE_NEWIPC;
	if (geteuid() != 0)
		flags |= CLONE_NEWUSER;
	if (unshare(flags))
		crt_setup_fail("unshare: %s", strerror(errno));

	int shmid = shmget(SHM_KEY, SHM_SIZE, IPC_CREAT | IPC_EXCL | 0640);
	if (shmid < 0)
		crt_setup_fail("shmget: %s", strerror(errno));
	unsigned char *shm = shmat(shmid, NULL, 0);
	if (shm == (void *)-1)
		crt_setup_fail("shmat: %s", strerror(errno));
	for (int i = 0; i < 2 * 4096; i++)
		shm[i] = pattern(i);
	for (int i = 3 * 4096; i < SHM_SIZE; i++)
		shm[i] = pattern(i);

	int privid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (privid < 0)
		crt_setup_fail("shmget private: %s", strerror(errno));
	char *priv = shmat(privid, NULL, 0);
	if (priv == (void *)-1)
		crt_setup_fail("shmat private: %s", strerror(errno));
	strcpy(priv, PRIV_TEXT);
	shmdt(priv);

	int semid = semget(SEM_KEY, NSEMS, IPC_CREAT | IPC_EXCL | 0600);
	if (semid < 0 || semctl(semid, 0, SETALL, semvals))
		crt_setup_fail("semaphores: %s", strerror(errno));

	int msgid = msgget(MSG_KEY, IPC_CREAT | IPC_EXCL | 0644);
	if (msgid < 0)
		crt_setup_fail("msgget: %s", strerror(errno));
	for (int i = 0; i < NMSGS; i++) {
		struct msgbuf_ m = { .mtype = msgs[i].type };
		strcpy(m.mtext, msgs[i].text);
		if (msgsnd(msgid, &m, strlen(m.mtext) + 1, IPC_NOWAIT))
			crt_setup_fail("msgsnd: %s", strerror(errno));
	}
	crt_ready();
	crt_wait();

	CHECK(shmget(SHM_KEY, 0, 0) == shmid, "shm key %#x: id %d, want %d", SHM_KEY, shmget(SHM_KEY, 0, 0), shmid);
	struct shmid_ds sds;
	CHECK(shmctl(shmid, IPC_STAT, &sds) == 0, "shm IPC_STAT: %s", strerror(errno));
	CHECK(sds.shm_segsz == SHM_SIZE, "shm size %zu", (size_t)sds.shm_segsz);
	CHECK((sds.shm_perm.mode & 0777) == 0640, "shm mode %o", sds.shm_perm.mode & 0777);
	int bad = -1;
	for (int i = 0; i < SHM_SIZE && bad < 0; i++) {
		unsigned char want = (i >= 2 * 4096 && i < 3 * 4096) ? 0 : pattern(i);
		if (shm[i] != want)
			bad = i;
	}
	CHECK(bad < 0, "shm byte %d is %d", bad, bad < 0 ? 0 : shm[bad]);
	unsigned char *again = shmat(shmid, NULL, SHM_RDONLY);
	CHECK(again != (void *)-1, "shmat again: %s", strerror(errno));
	if (again != (void *)-1) {
		shm[10] = 0xab;
		CHECK(again[10] == 0xab, "the segment is not shared with a fresh attach");
		shmdt(again);
	}

	char *p = shmat(privid, NULL, SHM_RDONLY);
	CHECK(p != (void *)-1, "shmat private %d: %s", privid, strerror(errno));
	if (p != (void *)-1) {
		CHECK(strcmp(p, PRIV_TEXT) == 0, "private segment holds %.30s", p);
		shmdt(p);
	}

	CHECK(semget(SEM_KEY, 0, 0) == semid, "sem key %#x: id %d, want %d", SEM_KEY, semget(SEM_KEY, 0, 0), semid);
	unsigned short vals[NSEMS] = { 0 };
	CHECK(semctl(semid, 0, GETALL, vals) == 0, "GETALL: %s", strerror(errno));
	for (int i = 0; i < NSEMS; i++)
		CHECK(vals[i] == semvals[i], "semaphore %d is %d, want %d", i, vals[i], semvals[i]);
	struct semid_ds semds;
	CHECK(semctl(semid, 0, IPC_STAT, &semds) == 0 && (semds.sem_perm.mode & 0777) == 0600, "sem mode %o", semds.sem_perm.mode & 0777);

	CHECK(msgget(MSG_KEY, 0) == msgid, "msg key %#x: id %d, want %d", MSG_KEY, msgget(MSG_KEY, 0), msgid);
	struct msqid_ds mds;
	CHECK(msgctl(msgid, IPC_STAT, &mds) == 0 && mds.msg_qnum == NMSGS, "queue holds %lu messages", (unsigned long)mds.msg_qnum);
	CHECK((mds.msg_perm.mode & 0777) == 0644, "msg mode %o", mds.msg_perm.mode & 0777);
	for (int i = 0; i < NMSGS; i++) {
		struct msgbuf_ m;
		memset(&m, 0, sizeof(m));
		ssize_t n = msgrcv(msgid, &m, sizeof(m.mtext), 0, IPC_NOWAIT);
		CHECK(n == (ssize_t)strlen(msgs[i].text) + 1, "message %d: %zd bytes", i, n);
		CHECK(m.mtype == msgs[i].type && strcmp(m.mtext, msgs[i].text) == 0, "message %d: type %ld %.40s", i, m.mtype, m.mtext);
	}
	return crt_finish();
}
