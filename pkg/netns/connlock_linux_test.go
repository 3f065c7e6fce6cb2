package netns

import (
	"net/netip"
	"strings"
	"testing"
)

// CRIU 4.2.1 names its table in a 32-byte buffer: what it made for the
// run id c85e78f5-2a08-4ece-882c-bd24ac72d664 was inet CRIU-c85e78f5-2a08-4ece-88.
func TestNftTableCutAsCRIU(t *testing.T) {
	if got, want := nftTable("c85e78f5-2a08-4ece-882c-bd24ac72d664"), "inet CRIU-c85e78f5-2a08-4ece-88"; got != want {
		t.Errorf("nftTable = %q, want %q", got, want)
	}
	if got, want := nftTable("1234"), "inet CRIU-1234"; got != want {
		t.Errorf("nftTable = %q, want %q", got, want)
	}
}

func TestConnRule(t *testing.T) {
	c := Conn{Local: netip.MustParseAddrPort("[::ffff:127.77.1.2]:40000"), Peer: netip.MustParseAddrPort("[::ffff:127.77.1.3]:7778")}
	u, v4 := c.unmapped()
	if !v4 || iptablesTool(v4) != "iptables" {
		t.Fatalf("mapped connection %s: v4 %v", c, v4)
	}
	in := strings.Join(connRule("-I", u, true), " ")
	if want := "-w -t filter -I INPUT --protocol tcp -m mark ! --mark 0xc114 --source 127.77.1.3 --sport 7778 --destination 127.77.1.2 --dport 40000 -j DROP"; in != want {
		t.Errorf("input rule\n%s\nwant\n%s", in, want)
	}
	out := strings.Join(connRule("-D", u, false), " ")
	if want := "-w -t filter -D OUTPUT --protocol tcp -m mark ! --mark 0xc114 --source 127.77.1.2 --sport 40000 --destination 127.77.1.3 --dport 7778 -j DROP"; out != want {
		t.Errorf("output rule\n%s\nwant\n%s", out, want)
	}
	c6 := Conn{Local: netip.MustParseAddrPort("[::1]:1"), Peer: netip.MustParseAddrPort("[::1]:2")}
	if _, v4 := c6.unmapped(); v4 {
		t.Errorf("%s taken for IPv4", c6)
	}
}
