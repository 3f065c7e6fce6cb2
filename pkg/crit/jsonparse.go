package crit

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting so that hostile input cannot exhaust the stack.
// CRIU's deepest message nests well under 16 levels.
const maxJSONDepth = 256

// SyntaxError is a JSON syntax error at a place in the input.
type SyntaxError struct {
	Line, Col int // 1-based; Col counts characters
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("JSON syntax error at line %d column %d: %s", e.Line, e.Col, e.Msg)
}

// Is makes every SyntaxError match ErrSyntax.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// ParseJSON parses one JSON document (RFC 8259, plus Python's NaN and
// Infinity, which it rejects with a clear message) into a Node tree that
// remembers where each value starts. Anything but white space after the
// value is an error, as are duplicate object keys.
func ParseJSON(data []byte) (*Node, error) {
	p := &jsonParser{data: data, line: 1, lineStart: 0}
	p.skipSpace()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.data) {
		return nil, p.errorf("extra data after the JSON value")
	}
	return n, nil
}

type jsonParser struct {
	data      []byte
	pos       int
	line      int
	lineStart int // offset of the first byte of the current line
}

func (p *jsonParser) col(pos int) int {
	return utf8.RuneCount(p.data[p.lineStart:pos]) + 1
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return &SyntaxError{Line: p.line, Col: p.col(p.pos), Msg: fmt.Sprintf(format, args...)}
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\n':
			p.pos++
			p.line++
			p.lineStart = p.pos
		case ' ', '\t', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (*Node, error) {
	if depth > maxJSONDepth {
		return nil, p.errorf("nesting deeper than %d", maxJSONDepth)
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input, expecting a value")
	}
	n := &Node{Line: p.line, Col: p.col(p.pos)}
	start, c := p.pos, p.data[p.pos]
	switch {
	case c == '{':
		n.Kind = Object
		return n, p.object(n, depth)
	case c == '[':
		n.Kind = Array
		return n, p.array(n, depth)
	case c == '"':
		s, err := p.str()
		n.Kind, n.Str = String, s
		return n, err
	case c == '-' || (c >= '0' && c <= '9'):
		n.Kind = Number
		return n, p.number(n)
	case p.word("true"):
		n.Kind, n.Bool = Bool, true
	case p.word("false"):
		n.Kind = Bool
	case p.word("null"):
		n.Kind = Null
	case p.word("NaN") || p.word("Infinity"):
		p.pos = start
		return nil, p.errorf("NaN and Infinity are not valid values in an image")
	default:
		return nil, p.errorf("unexpected character %q, expecting a value", rune(c))
	}
	return n, nil
}

// word consumes w if the input continues with it.
func (p *jsonParser) word(w string) bool {
	if strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(w))]), w) {
		p.pos += len(w)
		return true
	}
	return false
}

func (p *jsonParser) object(n *Node, depth int) error {
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return p.errorf("expecting a double-quoted key")
		}
		keyLine, keyCol := p.line, p.col(p.pos)
		key, err := p.str()
		if err != nil {
			return err
		}
		for _, k := range n.Keys {
			if k == key {
				return &SyntaxError{Line: keyLine, Col: keyCol, Msg: fmt.Sprintf("duplicate key %q", key)}
			}
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return p.errorf("expecting ':' after key %q", key)
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		n.Set(key, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return p.errorf("unexpected end of input in an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case '}':
			p.pos++
			return nil
		default:
			return p.errorf("expecting ',' or '}' in an object")
		}
	}
}

func (p *jsonParser) array(n *Node, depth int) error {
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		n.Elems = append(n.Elems, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return p.errorf("unexpected end of input in a list")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case ']':
			p.pos++
			return nil
		default:
			return p.errorf("expecting ',' or ']' in a list")
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? and keeps the text.
func (p *jsonParser) number(n *Node) error {
	start := p.pos
	d := p.data
	if d[p.pos] == '-' {
		p.pos++
		if p.word("Infinity") {
			p.pos = start
			return p.errorf("NaN and Infinity are not valid values in an image")
		}
	}
	digits := func() int {
		s := p.pos
		for p.pos < len(d) && isDigit(d[p.pos]) {
			p.pos++
		}
		return p.pos - s
	}
	if p.pos < len(d) && d[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return p.errorf("expecting a digit")
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return p.errorf("expecting a digit after '.'")
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return p.errorf("expecting a digit in the exponent")
		}
	}
	n.Str = string(d[start:p.pos])
	return nil
}

func hexVal(c byte) (rune, bool) {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0'), true
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10, true
	}
	return 0, false
}

// u4 reads the four hex digits of a \u escape starting at p.pos.
func (p *jsonParser) u4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.errorf("truncated \\u escape")
	}
	var r rune
	for i := 0; i < 4; i++ {
		v, ok := hexVal(p.data[p.pos+i])
		if !ok {
			return 0, p.errorf("bad \\u escape")
		}
		r = r<<4 | v
	}
	p.pos += 4
	return r, nil
}

// str scans a string literal. A lone surrogate \udc80-\udcff stands for the
// raw byte 0x80-0xff (the inverse of writeJSONString); other lone
// surrogates are errors, as are raw control characters (Python's strict
// mode) and invalid UTF-8.
func (p *jsonParser) str() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for {
		if p.pos >= len(p.data) {
			return "", p.errorf("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20:
			return "", p.errorf("control character %#02x in a string", c)
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return "", err
			}
		case c < 0x80:
			b.WriteByte(c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errorf("invalid UTF-8 in a string")
			}
			b.WriteRune(r)
			p.pos += size
		}
	}
}

func (p *jsonParser) escape(b *strings.Builder) error {
	p.pos++ // backslash
	if p.pos >= len(p.data) {
		return p.errorf("unterminated string")
	}
	c := p.data[p.pos]
	p.pos++
	switch c {
	case '"', '\\', '/':
		b.WriteByte(c)
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		r, err := p.u4()
		if err != nil {
			return err
		}
		switch {
		case r >= 0xd800 && r < 0xdc00:
			// A high surrogate must be followed by a low one.
			if p.pos+6 <= len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
				save := p.pos
				p.pos += 2
				lo, err := p.u4()
				if err != nil {
					return err
				}
				if lo >= 0xdc00 && lo < 0xe000 {
					b.WriteRune(0x10000 + (r-0xd800)<<10 + (lo - 0xdc00))
					return nil
				}
				p.pos = save
			}
			p.pos -= 6
			return p.errorf("lone surrogate \\u%04x", r)
		case r >= 0xdc80 && r <= 0xdcff:
			b.WriteByte(byte(r))
		case r >= 0xdc00 && r < 0xe000:
			p.pos -= 6
			return p.errorf("lone surrogate \\u%04x", r)
		default:
			b.WriteRune(r)
		}
	default:
		p.pos -= 2
		return p.errorf("bad escape \\%c", c)
	}
	return nil
}
