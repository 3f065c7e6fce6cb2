package image

import (
	"fmt"
	"strings"
)

// The first u32 of every image file except inventory.img says which family
// the file belongs to; the kind's own magic follows it.
const (
	// ImgCommonMagic heads ordinary images.
	ImgCommonMagic uint32 = 0x54564319
	// ImgServiceMagic heads service files (stats-*, irmap-cache) that are
	// about a run of the tool rather than about the dumped tree.
	ImgServiceMagic uint32 = 0x55105940
	// RawMagic is the magic of raw images: they have no header at all.
	RawMagic uint32 = 0
)

// layout says what, besides protobuf entries, a kind's file holds.
type layout uint8

const (
	layoutPlain    layout = iota // entries only
	layoutRaw                    // no header, no entries: opaque bytes
	layoutPagemap                // a Head entry, then Message entries
	layoutPipeData               // each entry followed by "bytes" (field 2) bytes
	layoutSkQueue                // each entry followed by "length" (field 2) bytes
	layoutTCP                    // each entry followed by inq_len (1) then outq_len (3) bytes
	layoutGhost                  // Head entry, then content to EOF or chunk entries with data
	layoutShm                    // each entry followed by size (2) bytes padded to 4, unless in_pagemaps (3)
	layoutSem                    // each entry followed by nsems (2) u16 values padded to 8 bytes
	layoutMsg                    // each entry followed by qnum (3) ipc_msg entries, each with msize (2) bytes padded to 8
	layoutBPF                    // each entry followed by keys_bytes (2) + values_bytes (3) bytes
)

// The image kinds CRIU 4.2 knows. Names are CRIU's magic names; patterns are
// the file names CRIU gives them (with %d for a decimal id, %x for a hex id,
// %s for a word). Where several kinds share one magic (PAGEMAP and
// SHMEM_PAGEMAP, SIGNAL and PSIGNAL, ...) the first one listed is the one
// KindByMagic returns: the name CRIU's crit prints for that magic.
var (
	Inventory     = &Kind{Name: "INVENTORY", Magic: 0x58313116, Message: "criu.inventory_entry", Pattern: "inventory.img"}
	Pstree        = &Kind{Name: "PSTREE", Magic: 0x50273030, Message: "criu.pstree_entry", Pattern: "pstree.img"}
	Fdinfo        = &Kind{Name: "FDINFO", Magic: 0x56213732, Message: "criu.fdinfo_entry", Pattern: "fdinfo-%d.img"}
	Pagemap       = &Kind{Name: "PAGEMAP", Magic: 0x56084025, Message: "criu.pagemap_entry", Head: "criu.pagemap_head", Pattern: "pagemap-%d.img", layout: layoutPagemap}
	Core          = &Kind{Name: "CORE", Magic: 0x55053847, Message: "criu.core_entry", Pattern: "core-%d.img"}
	IDs           = &Kind{Name: "IDS", Magic: 0x54432030, Message: "criu.task_kobj_ids_entry", Pattern: "ids-%d.img"}
	Vmas          = &Kind{Name: "VMAS", Magic: 0x54123737, Message: "criu.vma_entry", Pattern: "vmas-%d.img"}
	Pipes         = &Kind{Name: "PIPES", Magic: 0x56513555, Message: "criu.pipe_entry", Pattern: "pipes.img"}
	PipesData     = &Kind{Name: "PIPES_DATA", Magic: 0x56453709, Message: "criu.pipe_data_entry", Pattern: "pipes-data.img", layout: layoutPipeData}
	Fifo          = &Kind{Name: "FIFO", Magic: 0x58364939, Message: "criu.fifo_entry", Pattern: "fifo.img"}
	FifoData      = &Kind{Name: "FIFO_DATA", Magic: 0x59333054, Message: "criu.pipe_data_entry", Pattern: "fifo-data.img", layout: layoutPipeData}
	Sigact        = &Kind{Name: "SIGACT", Magic: 0x55344201, Message: "criu.sa_entry", Pattern: "sigacts-%d.img"}
	UnixSk        = &Kind{Name: "UNIXSK", Magic: 0x54373943, Message: "criu.unix_sk_entry", Pattern: "unixsk.img"}
	InetSk        = &Kind{Name: "INETSK", Magic: 0x56443851, Message: "criu.inet_sk_entry", Pattern: "inetsk.img"}
	PacketSk      = &Kind{Name: "PACKETSK", Magic: 0x60454618, Message: "criu.packet_sock_entry", Pattern: "packetsk.img"}
	Itimers       = &Kind{Name: "ITIMERS", Magic: 0x57464056, Message: "criu.itimer_entry", Pattern: "itimers-%d.img"}
	PosixTimers   = &Kind{Name: "POSIX_TIMERS", Magic: 0x52603957, Message: "criu.posix_timer_entry", Pattern: "posix-timers-%d.img"}
	SkQueues      = &Kind{Name: "SK_QUEUES", Magic: 0x56264026, Message: "criu.sk_packet_entry", Pattern: "sk-queues.img", layout: layoutSkQueue}
	UTSNS         = &Kind{Name: "UTSNS", Magic: 0x54473203, Message: "criu.utsns_entry", Pattern: "utsns-%d.img"}
	Creds         = &Kind{Name: "CREDS", Magic: 0x54023547, Message: "criu.creds_entry", Pattern: "creds-%d.img"}
	IPCVar        = &Kind{Name: "IPC_VAR", Magic: 0x53115007, Message: "criu.ipc_var_entry", Pattern: "ipcns-var-%d.img"}
	IPCNSShm      = &Kind{Name: "IPCNS_SHM", Magic: 0x46283044, Message: "criu.ipc_shm_entry", Pattern: "ipcns-shm-%d.img", layout: layoutShm}
	IPCNSMsg      = &Kind{Name: "IPCNS_MSG", Magic: 0x55453737, Message: "criu.ipc_msg_entry", Pattern: "ipcns-msg-%d.img", layout: layoutMsg}
	IPCNSSem      = &Kind{Name: "IPCNS_SEM", Magic: 0x59573019, Message: "criu.ipc_sem_entry", Pattern: "ipcns-sem-%d.img", layout: layoutSem}
	RegFiles      = &Kind{Name: "REG_FILES", Magic: 0x50363636, Message: "criu.reg_file_entry", Pattern: "reg-files.img"}
	ExtFiles      = &Kind{Name: "EXT_FILES", Magic: 0x59255641, Message: "criu.ext_file_entry", Pattern: "ext-files.img"}
	FS            = &Kind{Name: "FS", Magic: 0x51403912, Message: "criu.fs_entry", Pattern: "fs-%d.img"}
	MM            = &Kind{Name: "MM", Magic: 0x57492820, Message: "criu.mm_entry", Pattern: "mm-%d.img"}
	RemapFpath    = &Kind{Name: "REMAP_FPATH", Magic: 0x59133954, Message: "criu.remap_file_path_entry", Pattern: "remap-fpath.img"}
	GhostFile     = &Kind{Name: "GHOST_FILE", Magic: 0x52583605, Message: "criu.ghost_chunk_entry", Head: "criu.ghost_file_entry", Pattern: "ghost-file-%x.img", layout: layoutGhost}
	TCPStream     = &Kind{Name: "TCP_STREAM", Magic: 0x51465506, Message: "criu.tcp_stream_entry", Pattern: "tcp-stream-%x.img", layout: layoutTCP}
	EventfdFile   = &Kind{Name: "EVENTFD_FILE", Magic: 0x44523722, Message: "criu.eventfd_file_entry", Pattern: "eventfd.img"}
	EventpollFile = &Kind{Name: "EVENTPOLL_FILE", Magic: 0x45023858, Message: "criu.eventpoll_file_entry", Pattern: "eventpoll.img"}
	EventpollTFD  = &Kind{Name: "EVENTPOLL_TFD", Magic: 0x44433746, Message: "criu.eventpoll_tfd_entry", Pattern: "eventpoll-tfd.img"}
	Signalfd      = &Kind{Name: "SIGNALFD", Magic: 0x57323820, Message: "criu.signalfd_entry", Pattern: "signalfd.img"}
	InotifyFile   = &Kind{Name: "INOTIFY_FILE", Magic: 0x48424431, Message: "criu.inotify_file_entry", Pattern: "inotify.img"}
	InotifyWD     = &Kind{Name: "INOTIFY_WD", Magic: 0x54562009, Message: "criu.inotify_wd_entry", Pattern: "inotify-wd.img"}
	Mnts          = &Kind{Name: "MNTS", Magic: 0x55563928, Message: "criu.mnt_entry", Pattern: "mountpoints-%d.img"}
	Netdev        = &Kind{Name: "NETDEV", Magic: 0x57373951, Message: "criu.net_device_entry", Pattern: "netdev-%d.img"}
	NetNS         = &Kind{Name: "NETNS", Magic: 0x55933752, Message: "criu.netns_entry", Pattern: "netns-%d.img"}
	TTYFiles      = &Kind{Name: "TTY_FILES", Magic: 0x59433025, Message: "criu.tty_file_entry", Pattern: "tty.img"}
	TTYInfo       = &Kind{Name: "TTY_INFO", Magic: 0x59453036, Message: "criu.tty_info_entry", Pattern: "tty-info.img"}
	TTYData       = &Kind{Name: "TTY_DATA", Magic: 0x59413026, Message: "criu.tty_data_entry", Pattern: "tty-data.img"}
	FileLocks     = &Kind{Name: "FILE_LOCKS", Magic: 0x54323616, Message: "criu.file_lock_entry", Pattern: "filelocks.img"}
	Rlimit        = &Kind{Name: "RLIMIT", Magic: 0x57113925, Message: "criu.rlimit_entry", Pattern: "rlimit-%d.img"}
	FanotifyFile  = &Kind{Name: "FANOTIFY_FILE", Magic: 0x55096122, Message: "criu.fanotify_file_entry", Pattern: "fanotify.img"}
	FanotifyMark  = &Kind{Name: "FANOTIFY_MARK", Magic: 0x56506035, Message: "criu.fanotify_mark_entry", Pattern: "fanotify-mark.img"}
	Signal        = &Kind{Name: "SIGNAL", Magic: 0x59255647, Message: "criu.siginfo_entry", Pattern: "signal-s-%d.img"}
	NetlinkSk     = &Kind{Name: "NETLINK_SK", Magic: 0x58005614, Message: "criu.netlink_sk_entry", Pattern: "netlinksk.img"}
	NSFiles       = &Kind{Name: "NS_FILES", Magic: 0x61394011, Message: "criu.ns_file_entry", Pattern: "ns-files.img"}
	Tunfile       = &Kind{Name: "TUNFILE", Magic: 0x57143751, Message: "criu.tunfile_entry", Pattern: "tunfile.img"}
	Cgroup        = &Kind{Name: "CGROUP", Magic: 0x59383330, Message: "criu.cgroup_entry", Pattern: "cgroup.img"}
	Timerfd       = &Kind{Name: "TIMERFD", Magic: 0x50493712, Message: "criu.timerfd_entry", Pattern: "timerfd.img"}
	CPUInfo       = &Kind{Name: "CPUINFO", Magic: 0x61404013, Message: "criu.cpuinfo_entry", Pattern: "cpuinfo.img"}
	UserNS        = &Kind{Name: "USERNS", Magic: 0x55474906, Message: "criu.userns_entry", Pattern: "userns-%d.img"}
	Seccomp       = &Kind{Name: "SECCOMP", Magic: 0x64413049, Message: "criu.seccomp_entry", Pattern: "seccomp.img"}
	BinfmtMisc    = &Kind{Name: "BINFMT_MISC", Magic: 0x67343323, Message: "criu.binfmt_misc_entry", Pattern: "binfmt-misc.img"}
	Autofs        = &Kind{Name: "AUTOFS", Magic: 0x49353943, Message: "criu.autofs_entry", Pattern: "autofs-%d.img"}
	Files         = &Kind{Name: "FILES", Magic: 0x56303138, Message: "criu.file_entry", Pattern: "files.img"}
	MemfdInode    = &Kind{Name: "MEMFD_INODE", Magic: 0x48453499, Message: "criu.memfd_inode_entry", Pattern: "memfd.img"}
	TimeNS        = &Kind{Name: "TIMENS", Magic: 0x43114433, Message: "criu.timens_entry", Pattern: "timens-%d.img"}
	PidNS         = &Kind{Name: "PIDNS", Magic: 0x61157326, Message: "criu.pidns_entry", Pattern: "pidns-%d.img"}
	BPFMapFile    = &Kind{Name: "BPFMAP_FILE", Magic: 0x57506142, Message: "criu.bpfmap_file_entry", Pattern: "bpfmap-file.img"}
	BPFMapData    = &Kind{Name: "BPFMAP_DATA", Magic: 0x64324033, Message: "criu.bpfmap_data_entry", Pattern: "bpfmap-data.img", layout: layoutBPF}
	AppArmor      = &Kind{Name: "APPARMOR", Magic: 0x59423047, Message: "criu.apparmor_entry", Pattern: "apparmor.img"}
	Stats         = &Kind{Name: "STATS", Magic: 0x57093306, Message: "criu.stats_entry", Pattern: "stats-%s", Service: true}
	IrmapCache    = &Kind{Name: "IRMAP_CACHE", Magic: 0x57004059, Message: "criu.irmap_cache_entry", Pattern: "irmap-cache", Service: true}

	// The project's own kind: the freeze record criu-seize hands to
	// criu-parasite (images/criugo.proto). Its magic spells "FRZE" and
	// cannot collide with CRIU's; it never appears in a final image set.
	Freeze = &Kind{Name: "FREEZE", Magic: 0x46525a45, Message: "criu.criugo_freeze_entry", Pattern: "freeze.img", Service: true}
	// The project's own kind for the ids of tasks in PID namespaces
	// nested below the root's (images/criugo.proto), which pstree.img has
	// no place for. Its magic spells "NSPD"; it follows pstree.img in a
	// stream, as the restore needs it to create the tree.
	NsPid = &Kind{Name: "NSPID", Magic: 0x4e535044, Message: "criu.criugo_nspid_entry", Pattern: "nspid.img"}

	// Kinds that share a magic with one above: only their file names differ.
	ShmemPagemap  = &Kind{Name: "SHMEM_PAGEMAP", Magic: 0x56084025, Message: "criu.pagemap_entry", Head: "criu.pagemap_head", Pattern: "pagemap-shmem-%d.img", layout: layoutPagemap}
	PSignal       = &Kind{Name: "PSIGNAL", Magic: 0x59255647, Message: "criu.siginfo_entry", Pattern: "signal-p-%d.img"}
	BinfmtMiscOld = &Kind{Name: "BINFMT_MISC_OLD", Magic: 0x67343323, Message: "criu.binfmt_misc_entry", Pattern: "binfmt-misc-%d.img"}
	FileLocksPid  = &Kind{Name: "FILE_LOCKS_PID", Magic: 0x54323616, Message: "criu.file_lock_entry", Pattern: "filelocks-%d.img"}

	// Raw kinds: no header and no entries. Pages hold memory page by page
	// as the matching pagemap describes; the others are the output of
	// ip(8), iptables-save, nft, tar and conntrack dumps.
	Pages     = &Kind{Name: "PAGES", Pattern: "pages-%d.img", layout: layoutRaw}
	Ifaddr    = &Kind{Name: "IFADDR", Pattern: "ifaddr-%d.img", layout: layoutRaw}
	Route     = &Kind{Name: "ROUTE", Pattern: "route-%d.img", layout: layoutRaw}
	Route6    = &Kind{Name: "ROUTE6", Pattern: "route6-%d.img", layout: layoutRaw}
	Rule      = &Kind{Name: "RULE", Pattern: "rule-%d.img", layout: layoutRaw}
	Iptables  = &Kind{Name: "IPTABLES", Pattern: "iptables-%d.img", layout: layoutRaw}
	Ip6tables = &Kind{Name: "IP6TABLES", Pattern: "ip6tables-%d.img", layout: layoutRaw}
	Nftables  = &Kind{Name: "NFTABLES", Pattern: "nftables-%d.img", layout: layoutRaw}
	TmpfsImg  = &Kind{Name: "TMPFS_IMG", Pattern: "tmpfs-%d.tar.gz.img", layout: layoutRaw}
	TmpfsDev  = &Kind{Name: "TMPFS_DEV", Pattern: "tmpfs-dev-%d.tar.gz.img", layout: layoutRaw}
	NetnfCt   = &Kind{Name: "NETNF_CT", Pattern: "netns-ct-%d.img", layout: layoutRaw}
	NetnfExp  = &Kind{Name: "NETNF_EXP", Pattern: "netns-exp-%d.img", layout: layoutRaw}
)

// kinds lists every kind; for a shared magic the canonical kind comes first.
var kinds = []*Kind{
	Inventory, Pstree, Fdinfo, Pagemap, Core, IDs, Vmas, Pipes, PipesData,
	Fifo, FifoData, Sigact, UnixSk, InetSk, PacketSk, Itimers, PosixTimers,
	SkQueues, UTSNS, Creds, IPCVar, IPCNSShm, IPCNSMsg, IPCNSSem, RegFiles,
	ExtFiles, FS, MM, RemapFpath, GhostFile, TCPStream, EventfdFile,
	EventpollFile, EventpollTFD, Signalfd, InotifyFile, InotifyWD, Mnts,
	Netdev, NetNS, TTYFiles, TTYInfo, TTYData, FileLocks, Rlimit,
	FanotifyFile, FanotifyMark, Signal, NetlinkSk, NSFiles, Tunfile, Cgroup,
	Timerfd, CPUInfo, UserNS, Seccomp, BinfmtMisc, Autofs, Files, MemfdInode,
	TimeNS, PidNS, BPFMapFile, BPFMapData, AppArmor, Stats, IrmapCache, Freeze, NsPid,
	ShmemPagemap, PSignal, BinfmtMiscOld, FileLocksPid,
	Pages, Ifaddr, Route, Route6, Rule, Iptables, Ip6tables, Nftables,
	TmpfsImg, TmpfsDev, NetnfCt, NetnfExp,
}

var (
	byMagic = map[uint32]*Kind{}
	byName  = map[string]*Kind{}
)

func init() {
	for _, k := range kinds {
		if _, dup := byName[k.Name]; dup {
			panic("image: duplicate kind name " + k.Name)
		}
		byName[k.Name] = k
		if k.layout == layoutRaw {
			continue
		}
		if _, ok := byMagic[k.Magic]; !ok {
			byMagic[k.Magic] = k
		}
	}
}

// Kinds returns every known kind, canonical kinds before the ones that share
// their magic, raw kinds last. The slice is a copy.
func Kinds() []*Kind {
	return append([]*Kind(nil), kinds...)
}

// KindByMagic returns the kind whose magic is m, or nil. When kinds share a
// magic it returns the one whose name crit prints (PAGEMAP, SIGNAL, ...).
// Raw kinds have no magic and are never returned.
func KindByMagic(m uint32) *Kind {
	return byMagic[m]
}

// KindByName returns the kind with CRIU's magic name name ("CORE"), or nil.
func KindByName(name string) *Kind {
	return byName[name]
}

// KindForFile returns the kind stored under the file name name
// ("core-42.img" -> CORE, "pages-1.img" -> PAGES), or nil when no CRIU
// kind uses that name. name is a base name, without directories.
func KindForFile(name string) *Kind {
	for _, k := range kinds {
		if k.MatchFile(name) {
			return k
		}
	}
	return nil
}

// Raw reports whether files of this kind have no header and no entries.
func (k *Kind) Raw() bool { return k.layout == layoutRaw }

// SetMagic is the u32 that opens files of this kind before Magic:
// ImgServiceMagic, ImgCommonMagic, or RawMagic for INVENTORY (whose file
// begins with its own magic) and for raw kinds.
func (k *Kind) SetMagic() uint32 {
	switch {
	case k.layout == layoutRaw || k == Inventory:
		return RawMagic
	case k.Service:
		return ImgServiceMagic
	}
	return ImgCommonMagic
}

// HasPayload reports whether entries of this kind are followed by data that
// is not protobuf (Entry.Extra).
func (k *Kind) HasPayload() bool {
	switch k.layout {
	case layoutPlain, layoutRaw, layoutPagemap:
		return false
	}
	return true
}

// FileName returns the name of the file of this kind for id: the pattern
// with id put in place of its verb (decimal for %d, hex for %x, a word for
// %s), or the fixed name for kinds stored under one name.
func (k *Kind) FileName(id any) string {
	if _, verb, _ := k.splitPattern(); verb == 0 {
		return k.Pattern
	}
	// Patterns are printf formats with exactly one verb.
	return fmt.Sprintf(k.Pattern, id)
}

// MatchFile reports whether name is a file name of this kind.
func (k *Kind) MatchFile(name string) bool {
	prefix, verb, suffix := k.splitPattern()
	if verb == 0 {
		return name == k.Pattern
	}
	if len(name) <= len(prefix)+len(suffix) || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return false
	}
	id := name[len(prefix) : len(name)-len(suffix)]
	for _, c := range id {
		ok := false
		switch verb {
		case 'd':
			ok = c >= '0' && c <= '9'
		case 'x':
			ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
		case 's':
			ok = c != '/'
		}
		if !ok {
			return false
		}
	}
	return true
}

// FileID returns the id part of a file name of this kind ("42" for
// "core-42.img"), and false when name is not one or the kind has a fixed name.
func (k *Kind) FileID(name string) (string, bool) {
	prefix, verb, suffix := k.splitPattern()
	if verb == 0 || !k.MatchFile(name) {
		return "", false
	}
	return name[len(prefix) : len(name)-len(suffix)], true
}

// splitPattern cuts the pattern around its one verb; verb is 0 for fixed names.
func (k *Kind) splitPattern() (prefix string, verb byte, suffix string) {
	i := strings.IndexByte(k.Pattern, '%')
	if i < 0 || i+1 >= len(k.Pattern) {
		return k.Pattern, 0, ""
	}
	return k.Pattern[:i], k.Pattern[i+1], k.Pattern[i+2:]
}
