package criucli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/cgroup"
	"github.com/criugo/criugo/pkg/cpuinfo"
	"github.com/criugo/criugo/pkg/version"
)

// maxRequest bounds a request packet: criu_opts with every list full is a
// few kilobytes.
const maxRequest = 1 << 20

// ErrProtocol: the peer sent something that is not the RPC.
var ErrProtocol = errors.New("rpc protocol error")

// conn is one RPC connection: a SOCK_SEQPACKET socket, one message per
// packet.
type conn struct {
	fd   int
	peer int // the client's pid, for /proc/PID/fd/N paths
	// swrk: criu was started by the client (criu swrk FD), so its fds
	// are the client's to give (inherit_fd) and its parent the client
	// (rst_sibling); CRIU's service refuses both.
	swrk bool
	cfg  Config
}

// Config is what criu swrk and service take from outside the requests.
type Config struct {
	// Defaults, when set, gives a request's options before the
	// request's fields set theirs: for swrk, criu's command line and its
	// configuration files, as CRIU's swrk keeps what it parsed. A
	// service starts each request from nothing, as CRIU's does.
	Defaults func(o *Options)
	// File, when set, reads the configuration file a request names
	// (criu_opts.config_file, which runc sets to /etc/criu/runc.conf)
	// and sets on o what the file sets, over the request's own fields,
	// as CRIU's "RPC configuration file"; a file that does not exist sets
	// nothing. Without File such a file is refused.
	File func(o *Options, path, cmd string) error
}

func newConn(fd int) *conn {
	c := &conn{fd: fd, peer: os.Getpid()}
	if cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil && cred.Pid > 0 {
		c.peer = int(cred.Pid)
	}
	return c
}

// recv reads one request; io.EOF when the client closed the connection.
func (c *conn) recv() (*images.CriuReq, error) {
	buf := make([]byte, maxRequest+1)
	n, _, flags, _, err := unix.Recvmsg(c.fd, buf, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("receive request: %w", err)
	}
	if n == 0 {
		return nil, errEOF
	}
	if n > maxRequest || flags&unix.MSG_TRUNC != 0 {
		return nil, fmt.Errorf("receive request: over %d bytes: %w", maxRequest, ErrProtocol)
	}
	req := &images.CriuReq{}
	if err := proto.Unmarshal(buf[:n], req); err != nil {
		return nil, fmt.Errorf("decode request: %w: %w", ErrProtocol, err)
	}
	return req, nil
}

var errEOF = errors.New("client closed the connection")

// send writes one response, with fd passed along when it is not -1.
func (c *conn) send(resp *images.CriuResp, fd int) error {
	b, err := proto.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	if err := unix.Sendmsg(c.fd, b, oob, nil, 0); err != nil {
		return fmt.Errorf("send response: %w", err)
	}
	return nil
}

// notify is one NOTIFY round trip: the point reached, and the client's
// answer, which must be a successful NOTIFY.
func (c *conn) notify(script string, pid int) error {
	n := &images.CriuNotify{Script: proto.String(script)}
	if pid != 0 {
		n.Pid = proto.Int32(int32(pid))
	}
	resp := &images.CriuResp{Type: images.CriuReqType_NOTIFY.Enum(), Success: proto.Bool(true), Notify: n}
	if err := c.send(resp, -1); err != nil {
		return err
	}
	req, err := c.recv()
	if err != nil {
		return err
	}
	if req.GetType() != images.CriuReqType_NOTIFY || !req.GetNotifySuccess() {
		return fmt.Errorf("client answered %s with %s, success %v: %w", script, req.GetType(), req.GetNotifySuccess(), ErrNotify)
	}
	return nil
}

// Swrk serves the RPC on fd, a SOCK_SEQPACKET socket CRIU's clients made
// with socketpair (`criu swrk FD`): requests until one without keep_open,
// or until the client closes its end.
func Swrk(ctx context.Context, fd int) error {
	return SwrkConfig(ctx, fd, Config{})
}

// SwrkConfig is Swrk with cfg's defaults and configuration files.
func SwrkConfig(ctx context.Context, fd int, cfg Config) error {
	defer unix.Close(fd)
	c := newConn(fd)
	c.swrk, c.cfg = true, cfg
	return serveConn(ctx, c)
}

// Service is `criu service --address PATH`: it listens on a
// SOCK_SEQPACKET unix socket at path and serves each connection in turn
// as Swrk does, until ctx ends.
func Service(ctx context.Context, path string) error {
	return ServiceReady(ctx, path, nil)
}

// ServiceReady is Service that calls ready, when not nil, once the socket
// listens (criu service --daemon waits for it).
func ServiceReady(ctx context.Context, path string, ready func()) error {
	return ServiceConfig(ctx, path, ready, Config{})
}

// ServiceConfig is ServiceReady with cfg's configuration files (a
// service has no Defaults: each request starts from nothing).
func ServiceConfig(ctx context.Context, path string, ready func(), cfg Config) error {
	cfg.Defaults = nil
	lfd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("service socket: %w", err)
	}
	defer unix.Close(lfd)
	os.Remove(path)
	if err := unix.Bind(lfd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fmt.Errorf("bind %s: %w", path, err)
	}
	defer os.Remove(path)
	if err := unix.Listen(lfd, 16); err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	if ready != nil {
		ready()
	}
	stop := context.AfterFunc(ctx, func() { unix.Shutdown(lfd, unix.SHUT_RDWR) })
	defer stop()
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if ctx.Err() != nil {
			return nil
		}
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			return fmt.Errorf("accept on %s: %w", path, err)
		}
		c := newConn(fd)
		c.cfg = cfg
		if err := serveConn(ctx, c); err != nil {
			fmt.Fprintf(os.Stderr, "criu service: %v\n", err)
		}
		unix.Close(fd)
	}
}

func serveConn(ctx context.Context, c *conn) error {
	for {
		req, err := c.recv()
		if errors.Is(err, errEOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp := c.handle(ctx, req)
		if err := c.send(resp, -1); err != nil {
			return err
		}
		if !req.GetKeepOpen() || !resp.GetSuccess() {
			return nil
		}
	}
}

// handle serves one request and builds its answer; an error goes into
// cr_errmsg (and cr_errno when it carries an errno).
func (c *conn) handle(ctx context.Context, req *images.CriuReq) *images.CriuResp {
	typ := req.GetType()
	resp := &images.CriuResp{Type: typ.Enum(), Success: proto.Bool(true)}
	err := func() error {
		switch typ {
		case images.CriuReqType_VERSION:
			resp.Version = &images.CriuVersion{
				MajorNumber: proto.Int32(VersionMajor),
				MinorNumber: proto.Int32(VersionMinor),
				Sublevel:    proto.Int32(VersionSublevel),
				// No gitid: that marks a build from CRIU's git between
				// releases, which go-criu and runc count as the next
				// minor version.
				Name: proto.String("criugo " + version.Version),
			}
			return nil
		case images.CriuReqType_FEATURE_CHECK:
			resp.Features = featureAnswer(req.GetFeatures())
			return nil
		case images.CriuReqType_WAIT_PID:
			var ws unix.WaitStatus
			if _, err := unix.Wait4(int(req.GetPid()), &ws, 0, nil); err != nil {
				return fmt.Errorf("wait for pid %d: %w", req.GetPid(), err)
			}
			resp.Status = proto.Int32(int32(ws))
			return nil
		}
		o, l, err := c.options(req.GetOpts(), typ)
		if err != nil {
			return err
		}
		defer l.Close()
		defer CloseInherited(&o)
		switch typ {
		case images.CriuReqType_CHECK:
			return Check(l)
		case images.CriuReqType_DUMP:
			if err := Dump(ctx, o, l); err != nil {
				return err
			}
			resp.Dump = &images.CriuDumpResp{}
			return nil
		case images.CriuReqType_PRE_DUMP:
			return PreDump(ctx, o, l)
		case images.CriuReqType_RESTORE:
			o.Detach = true
			res, err := Restore(ctx, o, l)
			if err != nil {
				return err
			}
			resp.Restore = &images.CriuRestoreResp{Pid: proto.Int32(int32(res.Root))}
			return nil
		case images.CriuReqType_CPUINFO_DUMP:
			return cpuinfo.DumpDir(o.imagesDir())
		case images.CriuReqType_CPUINFO_CHECK:
			return cpuinfo.CheckDir(o.imagesDir(), cpuinfo.CapDefault)
		case images.CriuReqType_PAGE_SERVER, images.CriuReqType_PAGE_SERVER_CHLD:
			return fmt.Errorf("request %s: criugo has no page server: %w", typ, ErrNotSupported)
		case images.CriuReqType_SINGLE_PRE_DUMP:
			return fmt.Errorf("request %s: %w", typ, ErrNotSupported)
		}
		return fmt.Errorf("request %s: unexpected here: %w", typ, ErrProtocol)
	}()
	if err != nil {
		resp.Success = proto.Bool(false)
		resp.CrErrmsg = proto.String(err.Error())
		var errno unix.Errno
		if errors.As(err, &errno) {
			resp.CrErrno = proto.Int32(int32(errno))
		}
	}
	return resp
}

// featureAnswer answers FEATURE_CHECK as CRIU does: every feature is in
// the answer, true only when asked about and supported.
func featureAnswer(asked *images.CriuFeatures) *images.CriuFeatures {
	f := &images.CriuFeatures{MemTrack: proto.Bool(false), LazyPages: proto.Bool(false), PidfdStore: proto.Bool(false)}
	if asked.GetMemTrack() {
		f.MemTrack = proto.Bool(probeDirtyTrack() == nil)
	}
	return f
}

// options maps criu_opts onto Options and opens the request's log, as
// CRIU's setup_opts_from_req: images_dir_fd names the client's fd (as
// /proc/CLIENT/fd/N), the work directory is work_dir_fd or the images
// directory, log_file is a name in it ("criu.log" by default). Options
// criugo does not implement are refused by name.
func (c *conn) options(ro *images.CriuOpts, typ images.CriuReqType) (Options, *Log, error) {
	if ro == nil {
		ro = &images.CriuOpts{}
	}
	var o Options
	if c.cfg.Defaults != nil {
		c.cfg.Defaults(&o)
		// Where the images and the log are, and how much is logged,
		// are the request's (CRIU's setup_opts_from_req).
		o.ImagesDir, o.WorkDir, o.LogFile, o.LogTo, o.MsgTo, o.LogLevel = "", "", "", nil, nil, 0
	}
	switch {
	case ro.GetImagesDirFd() >= 0 && ro.ImagesDirFd != nil:
		o.ImagesDir = c.fdPath(ro.GetImagesDirFd())
	case ro.ImagesDir != nil:
		o.ImagesDir = ro.GetImagesDir()
	case typ != images.CriuReqType_CHECK:
		return o, nil, fmt.Errorf("neither images_dir_fd nor images_dir given: %w", ErrBadOptions)
	}
	if ro.WorkDirFd != nil {
		o.WorkDir = c.fdPath(ro.GetWorkDirFd())
	}
	o.LogLevel = int(ro.GetLogLevel())
	switch {
	case strings.Contains(ro.GetLogFile(), "/"):
		return o, nil, fmt.Errorf("log_file %q: no subdirectories allowed: %w", ro.GetLogFile(), ErrBadOptions)
	case ro.GetLogToStderr():
		o.LogTo = os.Stderr
	case ro.LogFile != nil:
		o.LogFile = ro.GetLogFile()
	case typ == images.CriuReqType_CHECK && o.ImagesDir == "" && o.WorkDir == "":
		o.LogTo = os.Stderr
	default:
		o.LogFile = "criu.log"
	}
	rpcConfig := ro.GetConfigFile() != "" && c.cfg.File != nil
	if rpcConfig {
		// The file's images, work directory, log and level, which win
		// over the request's, are needed before the log opens; the rest
		// is set again at the end.
		tmp := o
		if err := c.cfg.File(&tmp, ro.GetConfigFile(), rpcCommand(typ)); err != nil {
			return o, nil, fmt.Errorf("config_file %s: %w", ro.GetConfigFile(), err)
		}
		CloseInherited(&tmp)
		o.ImagesDir, o.WorkDir, o.LogFile, o.LogLevel = tmp.ImagesDir, tmp.WorkDir, tmp.LogFile, tmp.LogLevel
	}
	l, err := OpenLog(&o)
	if err != nil {
		return o, nil, err
	}
	// From here on an error is in the log too, as CRIU's are: runc
	// shows the log, not cr_errmsg.
	fail := func(err error) (Options, *Log, error) {
		l.Errorf("%v", err)
		l.Close()
		return o, nil, err
	}
	// What the client asked for, as it asked (-v4): the first thing to
	// read when a runtime's request fails.
	l.Debugf("request %s: %s", typ, prototext.MarshalOptions{}.Format(ro))
	if names := unsupportedOpts(ro); len(names) > 0 {
		return fail(fmt.Errorf("options %s: %w", strings.Join(names, ", "), ErrNotSupported))
	}
	// runc names /etc/criu/runc.conf whether or not it exists; CRIU
	// reads it only when it does.
	if f := ro.GetConfigFile(); f != "" && c.cfg.File == nil && exists(f) {
		return fail(fmt.Errorf("option --config (config_file %s): no reader of configuration files here: %w", f, ErrNotSupported))
	}
	if ro.StatusFd != nil {
		// CRIU reopens it and writes it for a page server only (which
		// criugo has not): for a dump or restore it is only checked.
		l.Warnf("status_fd is obsoleted; use status-ready notification instead")
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/fd/%d", c.peer, ro.GetStatusFd())); err != nil {
			return fail(fmt.Errorf("reopen status_fd %d of the client: %w", ro.GetStatusFd(), err))
		}
	}
	o.Pid = int(ro.GetPid())
	if o.Pid == 0 && (typ == images.CriuReqType_DUMP || typ == images.CriuReqType_PRE_DUMP) {
		// CRIU dumps the client itself; criugo cannot dump the tree
		// that holds it.
		return fail(fmt.Errorf("dump without pid (the client itself): %w", ErrNotSupported))
	}
	// A field the request leaves out keeps the default (swrk's command
	// line and configuration files); lists add to it.
	setString(&o.FreezeCgroup, ro.FreezeCgroup)
	if ro.ManageCgroups != nil && !ro.GetManageCgroups() {
		o.ManageCgroups = cgroup.Ignore // as CRIU: manage_cgroups false is ignore
	}
	if ro.ManageCgroupsMode != nil {
		m, ok := rpcCgModes[ro.GetManageCgroupsMode()]
		if !ok {
			return fail(fmt.Errorf("manage_cgroups_mode %v: %w", ro.GetManageCgroupsMode(), ErrNotSupported))
		}
		o.ManageCgroups = m
	}
	if r := ro.GetRoot(); r != "" && r != "/" {
		o.Root = r
	}
	// ext_mnt and external as --ext-mount-map and --external.
	x := Externals{Net: o.External}
	for k, v := range o.ExtMounts {
		if x.Mounts == nil {
			x.Mounts = map[string]string{}
		}
		x.Mounts[k] = v
	}
	for _, m := range ro.GetExtMnt() {
		if err := x.MapMount("ext_mnt", m.GetKey(), m.GetVal()); err != nil {
			return fail(err)
		}
	}
	external := ro.GetExternal()
	for _, v := range ro.GetVeths() {
		// As --veth-pair: CRIU's veth_pair_add.
		external = append(external, "veth["+v.GetIfIn()+"]:"+v.GetIfOut())
	}
	if err := x.ParseExternal("external", external, typ == images.CriuReqType_RESTORE); err != nil {
		return fail(err)
	}
	o.ExtMounts, o.External, o.ExtNetNs = x.Mounts, x.Net, x.NetNs
	if ro.NetworkLock != nil {
		m, ok := rpcLockMethods[ro.GetNetworkLock()]
		if !ok {
			return fail(fmt.Errorf("network_lock %v: %w", ro.GetNetworkLock(), ErrNotSupported))
		}
		o.NetworkLock = m
	}
	switch ro.GetEmptyNs() {
	case 0:
	case unix.CLONE_NEWNET:
		o.EmptyNetNs = true
	default:
		return fail(fmt.Errorf("empty_ns %#x: only the network namespace (%#x): %w", ro.GetEmptyNs(), unix.CLONE_NEWNET, ErrNotSupported))
	}
	for _, r := range ro.GetCgRoot() {
		cr, err := cgroup.ParseRoot(r.GetPath())
		if err != nil {
			return fail(err)
		}
		cr.Controller = r.GetCtrl()
		o.CgroupRoots = append(o.CgroupRoots, cr)
	}
	o.CgroupDumpControllers = append(o.CgroupDumpControllers, ro.GetCgroupDumpController()...)
	if ro.Timeout != nil {
		o.Timeout = time.Duration(ro.GetTimeout()) * time.Second
	}
	for _, b := range []struct {
		dst *bool
		src *bool
	}{
		{&o.LeaveRunning, ro.LeaveRunning}, {&o.LeaveStopped, ro.LeaveStopped},
		{&o.TCPEstablished, ro.TcpEstablished}, {&o.TCPClose, ro.TcpClose},
		{&o.SkipInFlight, ro.TcpSkipInFlight}, {&o.ExtUnixSk, ro.ExtUnixSk},
		{&o.ShellJob, ro.ShellJob}, {&o.FileLocks, ro.FileLocks},
		{&o.TrackMem, ro.TrackMem}, {&o.AutoDedup, ro.AutoDedup},
		{&o.LinkRemap, ro.LinkRemap}, {&o.DisplayStats, ro.DisplayStats},
		{&o.EvasiveDevices, ro.EvasiveDevices}, {&o.WeakSysctls, ro.WeakSysctls},
	} {
		if b.src != nil {
			*b.dst = *b.src
		}
	}
	setString(&o.PrevImagesDir, ro.ParentImg)
	o.SkipMounts = append(o.SkipMounts, ro.GetSkipMnt()...)
	o.EnableFs = append(o.EnableFs, ro.GetEnableFs()...)
	if ro.GhostLimit != nil || o.GhostLimit == 0 {
		o.GhostLimit = uint64(ro.GetGhostLimit())
	}
	if ro.GetRstSibling() {
		if !c.swrk {
			return fail(fmt.Errorf("rst_sibling (--restore-sibling): not in a standalone service, only in swrk: %w", ErrBadOptions))
		}
		o.Sibling = true
	}
	if len(ro.GetInheritFd()) > 0 && !c.swrk {
		return fail(fmt.Errorf("inherit_fd (--inherit-fd): not in a standalone service, only in swrk: %w", ErrBadOptions))
	}
	for _, in := range ro.GetInheritFd() {
		// The fd is criu's own: swrk's client started criu with it.
		f, err := InheritFd(int(in.GetFd()), in.GetKey())
		if err != nil {
			CloseInherited(&o)
			return fail(err)
		}
		o.InheritFds = append(o.InheritFds, f)
	}
	for _, j := range ro.GetJoinNs() {
		kind, file, err := ParseJoinNs("join_ns", j.GetNs(), j.GetNsFile(), j.GetExtraOpt())
		if err == nil && typ == images.CriuReqType_RESTORE {
			err = o.AddJoinNs(kind, file)
		}
		if err != nil {
			CloseInherited(&o)
			return fail(err)
		}
	}
	if ro.GetNotifyScripts() {
		o.Notify = c.notify
	}
	if rpcConfig {
		l.Debugf("options of the request overridden by those of %s", ro.GetConfigFile())
		if err := c.cfg.File(&o, ro.GetConfigFile(), rpcCommand(typ)); err != nil {
			CloseInherited(&o)
			return fail(fmt.Errorf("config_file %s: %w", ro.GetConfigFile(), err))
		}
	}
	return o, l, nil
}

// rpcCommand is the command line's command for a request type.
func rpcCommand(typ images.CriuReqType) string {
	switch typ {
	case images.CriuReqType_RESTORE:
		return "restore"
	case images.CriuReqType_PRE_DUMP:
		return "pre-dump"
	case images.CriuReqType_CHECK:
		return "check"
	}
	return "dump"
}

func setString(dst *string, src *string) {
	if src != nil {
		*dst = *src
	}
}

// fdPath names a directory fd of the client's: through /proc/CLIENT/fd
// when the client is another process, else this one's.
func (c *conn) fdPath(fd int32) string {
	p := fmt.Sprintf("/proc/%d/fd/%d", c.peer, fd)
	if _, err := os.Stat(p); err != nil {
		p = filepath.Join("/proc/self/fd", fmt.Sprint(fd))
	}
	return FdDir(p)
}

// FdDir resolves /proc/PID/fd/N naming a directory to the directory's
// path, so that names relative to it (--prev-images-dir's "../pre") mean
// what they mean from inside the directory; it stays as it is when it
// does not resolve.
func FdDir(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// unsupportedOpts names the criu_opts fields set to something criugo
// does not implement, by CRIU's command line names.
// Fields set to their defaults or to false are no request and pass
// (runc sends ext_unix_sk: false, for instance).
func unsupportedOpts(o *images.CriuOpts) []string {
	checks := []struct {
		name string
		set  bool
	}{
		{"--page-server (ps)", o.Ps != nil},
		{"--cpu-cap", o.CpuCap != nil && o.GetCpuCap() != 0xffffffff},
		{"--force-irmap", o.GetForceIrmap()},
		{"--exec-cmd", len(o.ExecCmd) > 0},
		{"--auto-ext-mnt", o.GetAutoExtMnt()},
		{"--ext-sharing", o.GetExtSharing()},
		{"--ext-masters", o.GetExtMasters()},
		{"--external (unix_sk_ino)", len(o.UnixSkIno) > 0},
		{"--irmap-scan-path", len(o.IrmapScanPaths) > 0},
		{"--cgroup-props", o.GetCgroupProps() != ""},
		{"--cgroup-props-file", o.GetCgroupPropsFile() != ""},
		{"--lazy-pages", o.GetLazyPages()},
		{"--lsm-profile", o.GetLsmProfile() != ""},
		{"--tls", o.GetTls() || o.GetTlsCacert() != "" || o.GetTlsCacrl() != "" || o.GetTlsCert() != "" || o.GetTlsKey() != "" || o.GetTlsNoCnVerify()},
		{"--cgroup-yard", o.GetCgroupYard() != ""},
		{"pidfd_store_sk", o.PidfdStoreSk != nil},
		{"--lsm-mount-context", o.GetLsmMountContext() != ""},
		{"--unprivileged", o.GetUnprivileged()},
	}
	var names []string
	for _, c := range checks {
		if c.set {
			names = append(names, c.name)
		}
	}
	return names
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// rpcLockMethods are criu_network_lock_method's values as --network-lock
// names.
var rpcLockMethods = map[images.CriuNetworkLockMethod]string{
	images.CriuNetworkLockMethod_IPTABLES: "iptables",
	images.CriuNetworkLockMethod_NFTABLES: "nftables",
	images.CriuNetworkLockMethod_SKIP:     "skip",
}

// rpcCgModes are criu_cg_mode's values as --manage-cgroups modes.
var rpcCgModes = map[images.CriuCgMode]cgroup.Mode{
	images.CriuCgMode_IGNORE:  cgroup.Ignore,
	images.CriuCgMode_CG_NONE: cgroup.None,
	images.CriuCgMode_PROPS:   cgroup.Props,
	images.CriuCgMode_SOFT:    cgroup.Soft,
	images.CriuCgMode_FULL:    cgroup.Full,
	images.CriuCgMode_STRICT:  cgroup.Strict,
	images.CriuCgMode_DEFAULT: cgroup.Soft,
}
