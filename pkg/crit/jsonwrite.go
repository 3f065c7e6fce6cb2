package crit

import (
	"bufio"
	"io"
	"unicode/utf8"
)

// WriteJSON writes n as Python's json.dump(obj, f, indent=...) does with its
// default ensure_ascii=True: with pretty, indent=4 and separators "," and
// ": "; without, everything on one line with separators ", " and ": ".
// No newline is written after the value.
func WriteJSON(w io.Writer, n *Node, pretty bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	jw := jsonWriter{w: bw, pretty: pretty}
	jw.value(n, 0)
	return bw.Flush()
}

type jsonWriter struct {
	w      *bufio.Writer
	pretty bool
}

func (jw *jsonWriter) newline(depth int) {
	jw.w.WriteByte('\n')
	for i := 0; i < depth; i++ {
		jw.w.WriteString("    ")
	}
}

// sep writes what goes between two items of a list or object.
func (jw *jsonWriter) sep(depth int) {
	if jw.pretty {
		jw.w.WriteByte(',')
		jw.newline(depth)
	} else {
		jw.w.WriteString(", ")
	}
}

func (jw *jsonWriter) value(n *Node, depth int) {
	if n == nil {
		jw.w.WriteString("null")
		return
	}
	switch n.Kind {
	case Null:
		jw.w.WriteString("null")
	case Bool:
		if n.Bool {
			jw.w.WriteString("true")
		} else {
			jw.w.WriteString("false")
		}
	case Number:
		jw.w.WriteString(n.Str)
	case String:
		writeJSONString(jw.w, n.Str)
	case Array:
		if len(n.Elems) == 0 {
			jw.w.WriteString("[]")
			return
		}
		jw.w.WriteByte('[')
		if jw.pretty {
			jw.newline(depth + 1)
		}
		for i, e := range n.Elems {
			if i > 0 {
				jw.sep(depth + 1)
			}
			jw.value(e, depth+1)
		}
		if jw.pretty {
			jw.newline(depth)
		}
		jw.w.WriteByte(']')
	case Object:
		if len(n.Keys) == 0 {
			jw.w.WriteString("{}")
			return
		}
		jw.w.WriteByte('{')
		if jw.pretty {
			jw.newline(depth + 1)
		}
		for i, k := range n.Keys {
			if i > 0 {
				jw.sep(depth + 1)
			}
			writeJSONString(jw.w, k)
			jw.w.WriteString(": ")
			jw.value(n.Vals[i], depth+1)
		}
		if jw.pretty {
			jw.newline(depth)
		}
		jw.w.WriteByte('}')
	}
}

const hexDigits = "0123456789abcdef"

func writeU4(w *bufio.Writer, r rune) {
	w.WriteString(`\u`)
	w.WriteByte(hexDigits[r>>12&0xf])
	w.WriteByte(hexDigits[r>>8&0xf])
	w.WriteByte(hexDigits[r>>4&0xf])
	w.WriteByte(hexDigits[r&0xf])
}

// writeJSONString quotes s as Python's json module does with
// ensure_ascii=True: printable ASCII (0x20-0x7e) as is except '"' and '\',
// the five short escapes, everything else as \uXXXX in lower-case hex, runes
// above U+FFFF as a surrogate pair. A byte of s that is not valid UTF-8 is
// written as the lone surrogate \udcXX, Python's "surrogateescape" for that
// byte, so that parseJSON can give the byte back.
func writeJSONString(w *bufio.Writer, s string) {
	w.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			if c == '"' || c == '\\' {
				w.WriteByte('\\')
			}
			w.WriteByte(c)
			i++
			continue
		}
		if c < 0x80 {
			switch c {
			case '\n':
				w.WriteString(`\n`)
			case '\r':
				w.WriteString(`\r`)
			case '\t':
				w.WriteString(`\t`)
			case '\b':
				w.WriteString(`\b`)
			case '\f':
				w.WriteString(`\f`)
			default:
				writeU4(w, rune(c))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			writeU4(w, 0xdc00|rune(c))
			i++
			continue
		}
		if r > 0xffff {
			r -= 0x10000
			writeU4(w, 0xd800|(r>>10))
			writeU4(w, 0xdc00|(r&0x3ff))
		} else {
			writeU4(w, r)
		}
		i += size
	}
	w.WriteByte('"')
}
