package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
)

// Devconfs4 are the net.ipv4.conf.<link> sysctls of a link and of the
// namespace's "all" and "default", in the order of CRIU's images.
var Devconfs4 = []string{
	"accept_local", "accept_redirects", "accept_source_route", "arp_accept",
	"arp_announce", "arp_filter", "arp_ignore", "arp_notify", "bootp_relay",
	"disable_policy", "disable_xfrm", "force_igmp_version", "forwarding",
	"igmpv2_unsolicited_report_interval", "igmpv3_unsolicited_report_interval",
	"log_martians", "medium_id", "promote_secondaries", "proxy_arp",
	"proxy_arp_pvlan", "route_localnet", "rp_filter", "secure_redirects",
	"send_redirects", "shared_media", "src_valid_mark", "tag",
	"ignore_routes_with_linkdown", "drop_gratuitous_arp",
	"drop_unicast_in_l2_multicast",
}

// Devconfs6 are the net.ipv6.conf.<link> sysctls, in CRIU's order.
var Devconfs6 = []string{
	"accept_dad", "accept_ra", "accept_ra_defrtr", "accept_ra_from_local",
	"accept_ra_min_hop_limit", "accept_ra_mtu", "accept_ra_pinfo",
	"accept_ra_rt_info_max_plen", "accept_ra_rtr_pref", "accept_redirects",
	"accept_source_route", "autoconf", "dad_transmits", "disable_ipv6",
	"drop_unicast_in_l2_multicast", "drop_unsolicited_na", "force_mld_version",
	"force_tllao", "forwarding", "hop_limit", "ignore_routes_with_linkdown",
	"keep_addr_on_down", "max_addresses", "max_desync_factor",
	"mldv1_unsolicited_report_interval", "mldv2_unsolicited_report_interval",
	"mtu", "ndisc_notify", "optimistic_dad", "proxy_ndp", "regen_max_retry",
	"router_probe_interval", "router_solicitation_delay",
	"router_solicitation_interval", "router_solicitations", "stable_secret",
	"suppress_frag_ndisc", "temp_prefered_lft", "temp_valid_lft",
	"use_oif_addrs_only", "use_optimistic", "use_tempaddr",
}

// UnixConf are the net.unix sysctls of unix_conf, IPv4Sysctls the
// net.ipv4 ones of ipv4_sysctl, in CRIU's order.
var (
	UnixConf    = []string{"max_dgram_qlen"}
	IPv4Sysctls = []string{"ping_group_range"}
)

const sysRoot = "/proc/sys/net"

// confPath is the sysctl file of name for link (or "all", "default").
func confPath(proto, link, name string) string {
	return path.Join(sysRoot, proto, "conf", link, name)
}

func readSysctl(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// read fills one entry of type typ from file p; a sysctl this kernel
// has not (or will not show: stable_secret unset gives EIO) stays
// without a value, as CRIU leaves it.
func read(p string, typ images.SysctlType) (*images.SysctlEntry, error) {
	e := &images.SysctlEntry{Type: typ.Enum()}
	s, err := readSysctl(p)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.EIO):
		return e, nil
	case err != nil:
		return nil, fmt.Errorf("read sysctl %s: %w", p, err)
	}
	if typ == images.SysctlType_CTL_STR {
		e.Sarg = proto.String(s)
		return e, nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("read sysctl %s: %q is no integer", p, s)
	}
	e.Iarg = proto.Int32(int32(v))
	return e, nil
}

func conf6Type(name string) images.SysctlType {
	if name == "stable_secret" {
		return images.SysctlType_CTL_STR
	}
	return images.SysctlType_CTL_32
}

// ReadConf reads the ipv4 and ipv6 conf sysctls of link ("all",
// "default" or a link's name), in CRIU's order; a kernel without IPv6
// gives entries without values.
func ReadConf(link string) (conf4, conf6 []*images.SysctlEntry, err error) {
	for _, n := range Devconfs4 {
		e, err := read(confPath("ipv4", link, n), images.SysctlType_CTL_32)
		if err != nil {
			return nil, nil, err
		}
		conf4 = append(conf4, e)
	}
	for _, n := range Devconfs6 {
		e, err := read(confPath("ipv6", link, n), conf6Type(n))
		if err != nil {
			return nil, nil, err
		}
		conf6 = append(conf6, e)
	}
	return conf4, conf6, nil
}

// ReadNamespace reads the namespace-wide sysctls of the netns entry.
func ReadNamespace() (*images.NetnsEntry, error) {
	e := &images.NetnsEntry{}
	var err error
	if e.AllConf4, e.AllConf6, err = ReadConf("all"); err != nil {
		return nil, err
	}
	if e.DefConf4, e.DefConf6, err = ReadConf("default"); err != nil {
		return nil, err
	}
	for _, n := range UnixConf {
		s, err := read(path.Join(sysRoot, "unix", n), images.SysctlType_CTL_32)
		if err != nil {
			return nil, err
		}
		e.UnixConf = append(e.UnixConf, s)
	}
	for _, n := range IPv4Sysctls {
		s, err := read(path.Join(sysRoot, "ipv4", n), images.SysctlType_CTL_STR)
		if err != nil {
			return nil, err
		}
		if n == "ping_group_range" && isDefaultPingRange(s.GetSarg()) {
			// A new namespace starts with it; CRIU leaves it out too.
			s.Sarg = nil
		}
		e.Ipv4Sysctl = append(e.Ipv4Sysctl, s)
	}
	return e, nil
}

// isDefaultPingRange reports whether v is the kernel's default
// ping_group_range, "1 0": no group may open ICMP echo sockets.
func isDefaultPingRange(v string) bool {
	f := strings.Fields(v)
	return len(f) == 2 && f[0] == "1" && f[1] == "0"
}

// write sets sysctl p to e's value when it has one and it differs from
// what the kernel shows. A sysctl the kernel has not is an error, or,
// when weak (CRIU's --weak-sysctls), skipped.
func write(p string, e *images.SysctlEntry, weak bool) error {
	var want string
	switch {
	case e.GetType() == images.SysctlType_CTL_32 && e.Iarg != nil:
		want = strconv.Itoa(int(e.GetIarg()))
	case e.GetType() == images.SysctlType_CTL_STR && e.Sarg != nil:
		want = e.GetSarg()
	default:
		return nil
	}
	cur, err := readSysctl(p)
	if errors.Is(err, fs.ErrNotExist) {
		if weak {
			return nil
		}
		return fmt.Errorf("write sysctl %s = %q: this kernel has no such sysctl (--weak-sysctls skips it): %w", p, want, err)
	}
	if err == nil && strings.Join(strings.Fields(cur), " ") == strings.Join(strings.Fields(want), " ") {
		return nil
	}
	if err := os.WriteFile(p, []byte(want), 0); err != nil {
		return fmt.Errorf("write sysctl %s = %q: %w", p, want, err)
	}
	return nil
}

// WriteConf sets the conf sysctls of link from entries in CRIU's order
// (a short list sets what it has). accept_redirects goes last, after
// forwarding, which resets it. weak skips a sysctl this kernel has not
// (write).
func WriteConf(link string, conf4, conf6 []*images.SysctlEntry, weak bool) error {
	if len(conf4) > len(Devconfs4) || len(conf6) > len(Devconfs6) {
		return fmt.Errorf("conf of %s: %d ipv4 and %d ipv6 sysctls, more than the %d and %d known", link, len(conf4), len(conf6), len(Devconfs4), len(Devconfs6))
	}
	for _, set := range []struct {
		proto string
		names []string
		es    []*images.SysctlEntry
	}{{"ipv4", Devconfs4, conf4}, {"ipv6", Devconfs6, conf6}} {
		last := -1
		for i, e := range set.es {
			if set.names[i] == "accept_redirects" {
				last = i
				continue
			}
			if err := write(confPath(set.proto, link, set.names[i]), e, weak); err != nil {
				return err
			}
		}
		if last >= 0 {
			if err := write(confPath(set.proto, link, set.names[last]), set.es[last], weak); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteNamespace sets the namespace-wide sysctls of e: "all", then
// "default", then net.unix and net.ipv4; weak as WriteConf.
func WriteNamespace(e *images.NetnsEntry, weak bool) error {
	if err := WriteConf("all", e.GetAllConf4(), e.GetAllConf6(), weak); err != nil {
		return err
	}
	if err := WriteConf("default", e.GetDefConf4(), e.GetDefConf6(), weak); err != nil {
		return err
	}
	for i, s := range e.GetUnixConf() {
		if i < len(UnixConf) {
			if err := write(path.Join(sysRoot, "unix", UnixConf[i]), s, weak); err != nil {
				return err
			}
		}
	}
	for i, s := range e.GetIpv4Sysctl() {
		if i < len(IPv4Sysctls) {
			if err := write(path.Join(sysRoot, "ipv4", IPv4Sysctls[i]), s, weak); err != nil {
				return err
			}
		}
	}
	return nil
}
