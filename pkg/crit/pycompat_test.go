package crit

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// pycompat.json holds what Python gave for each input (gen-pycompat.py).
type pyCases struct {
	QPEncode [][2]string  `json:"qp_encode"`
	QPDecode [][2]string  `json:"qp_decode"`
	IPv6     [][2]string  `json:"ipv6"`
	Base64   [][2]string  `json:"base64"`
	PyInt    [][2]*string `json:"pyint"`
}

func loadPyCases(t *testing.T) *pyCases {
	t.Helper()
	data, err := os.ReadFile("testdata/pycompat.json")
	if err != nil {
		t.Fatal(err)
	}
	var c pyCases
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.QPEncode) == 0 || len(c.QPDecode) == 0 || len(c.IPv6) == 0 || len(c.Base64) == 0 || len(c.PyInt) == 0 {
		t.Fatal("testdata/pycompat.json lacks cases")
	}
	return &c
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeQPMatchesPython(t *testing.T) {
	for _, c := range loadPyCases(t).QPEncode {
		in := mustHex(t, c[0])
		if got := encodeQP(in); got != c[1] {
			t.Errorf("encodeQP(%q) = %q, Python gives %q", in, got, c[1])
		}
		// crit's encode reads its own output back.
		back, err := decodeQP(c[1])
		if err != nil {
			t.Errorf("decodeQP(%q): %v", c[1], err)
			continue
		}
		// b2a_qp normalises line ends, so only inputs without CR must come
		// back unchanged.
		if string(back) != string(in) && !containsCR(in) {
			t.Errorf("decodeQP(encodeQP(%q)) = %q", in, back)
		}
	}
}

func containsCR(b []byte) bool {
	for _, c := range b {
		if c == '\r' {
			return true
		}
	}
	return false
}

func TestDecodeQPMatchesPython(t *testing.T) {
	for _, c := range loadPyCases(t).QPDecode {
		got, err := decodeQP(c[0])
		if err != nil {
			t.Errorf("decodeQP(%q): %v", c[0], err)
			continue
		}
		if want := mustHex(t, c[1]); string(got) != string(want) {
			t.Errorf("decodeQP(%q) = %q, Python gives %q", c[0], got, want)
		}
	}
	if _, err := decodeQP("caf\u00e9"); err == nil {
		t.Error("decodeQP accepted non-ASCII text")
	}
}

func TestIPv6MatchesPython(t *testing.T) {
	for _, c := range loadPyCases(t).IPv6 {
		var a [16]byte
		copy(a[:], mustHex(t, c[0]))
		if got := pyIPv6(a); got != c[1] {
			t.Errorf("pyIPv6(%s) = %q, Python gives %q", c[0], got, c[1])
		}
		back, err := parseIP(c[1])
		if err != nil || back.As16() != a {
			t.Errorf("parseIP(%q) = %v, %v; want %x", c[1], back, err, a)
		}
	}
}

func TestBase64MatchesPython(t *testing.T) {
	for _, c := range loadPyCases(t).Base64 {
		in := mustHex(t, c[0])
		if got := encodeBase64(in); got != c[1] {
			t.Errorf("encodeBase64(%d bytes) = %q, Python gives %q", len(in), got, c[1])
		}
		back, err := decodeBase64(c[1])
		if err != nil || string(back) != string(in) {
			t.Errorf("decodeBase64(%q) = %x, %v", c[1], back, err)
		}
	}
	for _, bad := range []string{"A", "AB=C", "!!!!", "AAA=A"} {
		if _, err := decodeBase64(bad); err == nil {
			t.Errorf("decodeBase64(%q) succeeded", bad)
		}
	}
}

func TestParsePyIntMatchesPython(t *testing.T) {
	for _, c := range loadPyCases(t).PyInt {
		got, err := parsePyInt(*c[0])
		switch {
		case c[1] == nil && err == nil:
			t.Errorf("parsePyInt(%q) = %v, Python refuses it", *c[0], got)
		case c[1] != nil && err != nil:
			t.Errorf("parsePyInt(%q): %v, Python gives %s", *c[0], err, *c[1])
		case c[1] != nil && got.String() != *c[1]:
			t.Errorf("parsePyInt(%q) = %v, Python gives %s", *c[0], got, *c[1])
		}
	}
}

func TestPyHex(t *testing.T) {
	for _, c := range []struct {
		v    int64
		want string
	}{{0, "0x0"}, {255, "0xff"}, {-5, "-0x5"}, {-1 << 63, "-0x8000000000000000"}} {
		if got := pyHexInt(c.v); got != c.want {
			t.Errorf("pyHexInt(%d) = %q, want %q", c.v, got, c.want)
		}
	}
	if got := pyHexUint(1<<64 - 1); got != "0xffffffffffffffff" {
		t.Errorf("pyHexUint(max) = %q", got)
	}
}

func TestGlibcDev(t *testing.T) {
	// Values from Python's os.makedev / os.major / os.minor.
	for _, c := range []struct{ major, minor, dev uint64 }{
		{8, 1, 0x801},
		{0, 0, 0},
		{259, 3, 0x10303},
		{4096, 256, 0x100000100000},
		{0xfffff, 0xfffff, 0xff000ffffffff},
	} {
		if got := glibcMakedev(c.major, c.minor); got != c.dev {
			t.Errorf("makedev(%d, %d) = %#x, want %#x", c.major, c.minor, got, c.dev)
		}
		if glibcMajor(c.dev) != c.major || glibcMinor(c.dev) != c.minor {
			t.Errorf("major/minor(%#x) = %d:%d, want %d:%d", c.dev, glibcMajor(c.dev), glibcMinor(c.dev), c.major, c.minor)
		}
	}
}
