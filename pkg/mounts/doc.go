// Package mounts holds what the dump and the restore of a mount namespace
// share: the fstype codes of CRIU's mnt_entry (images/mnt.proto) and the
// way mountinfo's option strings turn into MS_* flags, as CRIU 4.2 writes
// them into mountpoints-<id>.img:
//
//	mountinfo: 36 35 0:45 / /w/tm rw,nosuid,relatime shared:7 - tmpfs tm rw,size=1024k
//	mnt_entry: mnt_id 36, parent_mnt_id 35, root_dev 0:45 (kernel encoding),
//	           root "/", mountpoint "/w/tm", fstype TMPFS, source "tm",
//	           flags MS_NOSUID|MS_RELATIME|MS_SHARED, shared_id 7,
//	           sb_flags 0, options "size=1024k"
//
// It makes no system calls.
package mounts
