package crit

// Python behaviours that crit's output depends on, redone in Go:
// base64.encodebytes line wrapping, binascii's quoted-printable codec (the
// "unix_name" conversion), int(s, 0) and "%x" formatting, ipaddress text.

import (
	"encoding/base64"
	"errors"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
)

// b64LineChars is how many base64 characters base64.encodebytes puts on a
// line (57 input bytes).
const b64LineChars = 76

// encodeBase64 is Python's base64.encodebytes(b).decode(): standard base64
// cut into lines of 76 characters, each ended by "\n"; "" for no bytes.
func encodeBase64(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	sb.Grow(len(enc) + len(enc)/b64LineChars + 1)
	for len(enc) > b64LineChars {
		sb.WriteString(enc[:b64LineChars])
		sb.WriteByte('\n')
		enc = enc[b64LineChars:]
	}
	sb.WriteString(enc)
	sb.WriteByte('\n')
	return sb.String()
}

var errBadBase64 = errors.New("bad base64")

// decodeBase64 reverses encodeBase64. Like Python's decoder it ignores line
// breaks and other white space; unlike it, any other stray character is an
// error.
func decodeBase64(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r', ' ', '\t':
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, errBadBase64
	}
	return b, nil
}

// qpMaxLine is binascii's MAXLINESIZE for quoted-printable output.
const qpMaxLine = 76

// qpQuoted tells whether encodeQP must write data[i] as "=XX" at a line
// position of linelen (binascii.b2a_qp with quotetabs=False, istext=True,
// header=False).
func qpQuoted(data []byte, i, linelen int) bool {
	c := data[i]
	last := i+1 == len(data)
	switch {
	case c > 126 || c == '=':
		return true
	case c == '.' && linelen == 0 && (last || data[i+1] == '\n' || data[i+1] == '\r' || data[i+1] == 0):
		return true
	case (c == '\t' || c == ' ') && last:
		return true
	case c < 33 && c != '\r' && c != '\n' && c != '\t' && c != ' ':
		return true
	}
	return false
}

const upperHex = "0123456789ABCDEF"

// encodeQP is Python's quopri.encodestring(b) (binascii.b2a_qp): bytes
// outside printable ASCII and '=' become "=XX", lines are kept under 76
// characters with soft breaks "=\n", a space or tab before a line end is
// quoted, and line ends are normalised to the first one's style.
func encodeQP(data []byte) string {
	crlf := false
	if i := strings.IndexByte(string(data), '\n'); i > 0 && data[i-1] == '\r' {
		crlf = true
	}
	var out []byte
	softBreak := func() {
		out = append(out, '=')
		if crlf {
			out = append(out, '\r')
		}
		out = append(out, '\n')
	}
	linelen := 0
	for i := 0; i < len(data); {
		c := data[i]
		if qpQuoted(data, i, linelen) {
			if linelen+3 >= qpMaxLine {
				softBreak()
				linelen = 0
			}
			out = append(out, '=', upperHex[c>>4], upperHex[c&0xf])
			i++
			linelen += 3
			continue
		}
		if c == '\n' || (c == '\r' && i+1 < len(data) && data[i+1] == '\n') {
			linelen = 0
			// Protect white space at the end of a line.
			if n := len(out); n > 0 && (out[n-1] == ' ' || out[n-1] == '\t') {
				ws := out[n-1]
				out = append(out[:n-1], '=', upperHex[ws>>4], upperHex[ws&0xf])
			}
			if crlf {
				out = append(out, '\r')
			}
			out = append(out, '\n')
			if c == '\r' {
				i += 2
			} else {
				i++
			}
			continue
		}
		if i+1 != len(data) && data[i+1] != '\n' && linelen+1 >= qpMaxLine {
			softBreak()
			linelen = 0
		}
		linelen++
		out = append(out, c)
		i++
	}
	return string(out)
}

// decodeQP is Python's quopri.decodestring(s) (binascii.a2b_qp): "=XX"
// gives the byte, "=" before a line end is a soft break, any other "=" is
// kept. Python refuses a non-ASCII str here; so does decodeQP.
func decodeQP(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	isHex := func(c byte) bool { _, ok := hexVal(c); return ok }
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			return nil, errors.New("non-ASCII character in quoted-printable text")
		}
		if c != '=' {
			out = append(out, c)
			i++
			continue
		}
		i++
		if i >= len(s) {
			break
		}
		switch {
		case s[i] == '\n' || s[i] == '\r':
			if s[i] != '\n' {
				for i < len(s) && s[i] != '\n' {
					i++
				}
			}
			if i < len(s) {
				i++
			}
		case s[i] == '=':
			out = append(out, '=')
			i++
		case i+1 < len(s) && isHex(s[i]) && isHex(s[i+1]):
			hi, _ := hexVal(s[i])
			lo, _ := hexVal(s[i+1])
			out = append(out, byte(hi<<4|lo))
			i += 2
		default:
			out = append(out, '=')
		}
	}
	return out, nil
}

// pyHexInt is Python's "0x%x" % v for a signed value.
func pyHexInt(v int64) string {
	if v < 0 {
		return "-0x" + strconv.FormatUint(uint64(-v), 16)
	}
	return "0x" + strconv.FormatUint(uint64(v), 16)
}

// pyHexUint is Python's "0x%x" % v.
func pyHexUint(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

var errBadInt = errors.New("not an integer literal")

// parsePyInt is Python's int(s, 0): optional white space and sign, then a
// decimal number without leading zeros, or 0x/0o/0b and digits of that
// base; single underscores may separate digits. The result can be of any
// size; the caller checks the range.
func parsePyInt(s string) (*big.Int, error) {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	if len(s) >= 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 10 {
			s = s[2:]
			// Python allows one underscore right after the prefix.
			s = strings.TrimPrefix(s, "_")
		}
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return nil, errBadInt
	}
	digits := strings.ReplaceAll(s, "_", "")
	if base == 10 && len(digits) > 1 && digits[0] == '0' && strings.Trim(digits, "0") != "" {
		return nil, errBadInt // "010" is refused by int(s, 0)
	}
	v, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return nil, errBadInt
	}
	if neg {
		v.Neg(v)
	}
	return v, nil
}

// pyIPv6 is Python 3.11's IPv6Address.compressed: lower-case hextets
// without leading zeros, the longest run (first on a tie) of two or more
// zero hextets replaced by "::". Unlike Python 3.13 it does not print
// IPv4-mapped addresses in dotted form.
func pyIPv6(a [16]byte) string {
	var h [8]uint16
	for i := range h {
		h[i] = uint16(a[2*i])<<8 | uint16(a[2*i+1])
	}
	bestStart, bestLen, runStart, runLen := -1, 0, -1, 0
	for i, v := range h {
		if v != 0 {
			runStart, runLen = -1, 0
			continue
		}
		if runStart < 0 {
			runStart = i
		}
		runLen++
		if runLen > bestLen {
			bestStart, bestLen = runStart, runLen
		}
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if bestLen > 1 && i == bestStart {
			sb.WriteString("::")
			i += bestLen - 1
			continue
		}
		if i > 0 && !(bestLen > 1 && i == bestStart+bestLen) {
			sb.WriteByte(':')
		}
		sb.WriteString(strconv.FormatUint(uint64(h[i]), 16))
	}
	return sb.String()
}

// parseIP is Python's ipaddress.ip_address(s) for text: dotted IPv4 (no
// leading zeros) or IPv6 (a %scope suffix is accepted and dropped).
func parseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	return a.WithZone(""), nil
}
