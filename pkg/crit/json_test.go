package crit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

type pyJSONCases struct {
	Strings [][2]string `json:"strings"`
	Docs    [][2]string `json:"docs"` // compact, indent=4
}

func loadPyJSON(t *testing.T) *pyJSONCases {
	t.Helper()
	data, err := os.ReadFile("testdata/pyjson.json")
	if err != nil {
		t.Fatal(err)
	}
	var c pyJSONCases
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Strings) == 0 || len(c.Docs) == 0 {
		t.Fatal("testdata/pyjson.json lacks cases")
	}
	return &c
}

func TestJSONStringsMatchPython(t *testing.T) {
	for _, c := range loadPyJSON(t).Strings {
		in := string(mustHex(t, c[0]))
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		writeJSONString(w, in)
		w.Flush()
		if buf.String() != c[1] {
			t.Errorf("string %q: got %s, Python prints %s", in, buf.String(), c[1])
			continue
		}
		n, err := ParseJSON(buf.Bytes())
		if err != nil {
			t.Errorf("parse %s: %v", buf.String(), err)
			continue
		}
		if n.Kind != String || n.Str != in {
			t.Errorf("parse %s = %q, want %q", buf.String(), n.Str, in)
		}
	}
}

func TestJSONLayoutMatchesPython(t *testing.T) {
	for _, c := range loadPyJSON(t).Docs {
		for _, src := range c {
			n, err := ParseJSON([]byte(src))
			if err != nil {
				t.Fatalf("parse %s: %v", src, err)
			}
			for i, pretty := range []bool{false, true} {
				var buf bytes.Buffer
				if err := WriteJSON(&buf, n, pretty); err != nil {
					t.Fatal(err)
				}
				if buf.String() != c[i] {
					t.Errorf("pretty=%v:\n got %s\nwant %s", pretty, buf.String(), c[i])
				}
			}
		}
	}
}

func TestParseJSONErrors(t *testing.T) {
	for _, c := range []struct {
		in        string
		line, col int
		msg       string
	}{
		{`{"a": 1,}`, 1, 9, "expecting a double-quoted key"},
		{"{\n  \"a\": [1 2]\n}", 2, 11, "expecting ',' or ']'"},
		{`{"a": 1} x`, 1, 10, "extra data"},
		{`{"a": 1, "a": 2}`, 1, 10, "duplicate key"},
		{`{"a": NaN}`, 1, 7, "NaN"},
		{`{"a": -Infinity}`, 1, 7, "NaN"},
		{`{"a": "x`, 1, 9, "unterminated string"},
		{"{\"a\": \"x\ty\"}", 1, 9, "control character"},
		{`{"a": "\ud800"}`, 1, 8, "lone surrogate"},
		{`{"a": "\q"}`, 1, 8, "bad escape"},
		{`{"a": 01}`, 1, 8, "expecting ',' or '}'"},
		{`{"a": 1.}`, 1, 9, "expecting a digit"},
		{``, 1, 1, "unexpected end of input"},
		{`{"é": tru}`, 1, 7, "unexpected character"},
		{strings.Repeat("[", 300) + strings.Repeat("]", 300), 1, 258, "nesting deeper"},
	} {
		_, err := ParseJSON([]byte(c.in))
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseJSON(%q) = %v, want a SyntaxError", c.in, err)
			continue
		}
		if se.Line != c.line || se.Col != c.col || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("ParseJSON(%q) = %v, want line %d column %d: %s", c.in, err, c.line, c.col, c.msg)
		}
	}
}

func TestParseJSONValues(t *testing.T) {
	n, err := ParseJSON([]byte(" {\"big\": 18446744073709551615, \"neg\": -9223372036854775808,\n \"s\": \"\\u00e9\\ud83d\\ude00\\/\", \"l\": [true, false, null, {}]} "))
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Get("big"); got.Kind != Number || got.Str != "18446744073709551615" {
		t.Errorf("big = %+v", got)
	}
	if got := n.Get("neg"); got.Str != "-9223372036854775808" {
		t.Errorf("neg = %+v", got)
	}
	if got := n.Get("s"); got.Str != "é😀/" || got.Line != 2 || got.Col != 7 {
		t.Errorf("s = %+v", got)
	}
	l := n.Get("l")
	if len(l.Elems) != 4 || !l.Elems[0].Bool || l.Elems[1].Bool || l.Elems[2].Kind != Null || l.Elems[3].Kind != Object {
		t.Errorf("l = %+v", l)
	}
	if n.Get("missing") != nil {
		t.Error("Get of a missing key is not nil")
	}
}
