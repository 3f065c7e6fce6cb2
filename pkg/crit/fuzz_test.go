package crit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// FuzzEncodeJSON: no JSON text makes encode panic, and whatever it accepts
// decodes again (plain and pretty) to JSON that encodes to the same bytes.
func FuzzEncodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"magic": "PIPES_DATA", "entries": [{"pipe_id": 1, "bytes": 3, "extra": "YWJj\n"}]}`,
		`{"magic": "TCP_STREAM", "entries": [{"inq_len": 1, "inq_seq": 0, "outq_len": 0, "outq_seq": 0, "extra": {"inq": "YQ==\n", "outq": ""}}]}`,
		`{"magic": "IPCNS_SEM", "entries": [{"desc": {"key": 1, "uid": 0, "gid": 0, "cuid": 0, "cgid": 0, "mode": 438, "id": 3}, "nsems": 1, "extra": [9]}]}`,
		`{"magic": "IPCNS_MSG", "entries": [{"desc": {"key": 1, "uid": 0, "gid": 0, "cuid": 0, "cgid": 0, "mode": 438, "id": 0}, "qbytes": 1, "qnum": 1, "extra": [{"mtype": 5, "msize": 1}, "YQ==\n"]}]}`,
		`{"magic": "GHOST_FILE", "entries": [{"uid": 0, "gid": 0, "mode": 33188, "dev": "8:1", "rdev": "1:3", "extra": "YWJj\n"}]}`,
		`{"magic": "MM", "entries": [{"mm_start_code": "0x1", "exe_file_id": 1, "vmas": [{"start": "0x1000", "end": "0x2000", "pgoff": 0, "shmid": 0, "prot": "PROT_READ | 0x10", "flags": "MAP_PRIVATE", "status": "", "fd": -1}]}]}`,
		`{"magic": "FILES", "entries": [{"id": 1, "type": "INETSK", "isk": {"id": 1, "ino": 2, "family": "INET6", "type": "STREAM", "proto": "TCP", "state": 10, "src_port": 1, "dst_port": 0, "flags": "0x0", "backlog": 0, "src_addr": ["::ffff:1.2.3.4"], "dst_addr": ["0.0.0.0"], "fown": {"uid": 0, "euid": 0, "signum": 0, "pid_type": 0, "pid": 0}, "opts": {"so_sndbuf": 1, "so_rcvbuf": 1, "so_snd_tmo_sec": 0, "so_snd_tmo_usec": 0, "so_rcv_tmo_sec": 0, "so_rcv_tmo_usec": 0}}}]}`,
		`{"magic": "PAGEMAP", "entries": [{"pages_id": 1}, {"vaddr": "0x400000", "compat_nr_pages": 0, "flags": "PE_PRESENT", "nr_pages": 1}]}`,
		`{"magic": "CORE", "entries": [{"mtype": "X86_64", "tc": {"task_state": "Alive", "exit_code": 0, "personality": 0, "flags": 0, "blk_sigset": "0x0", "comm": "\udcff\u00e9"}}]}`,
		`{"magic": "INVENTORY", "entries": []}`,
	} {
		f.Add([]byte(s))
	}
	// A few of CRIU's own documents.
	for _, b := range fixtureSeeds("criu-4.2/json/state/*.json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := EncodeJSON(data)
		if err != nil {
			return
		}
		img, err := image.ReadImage(bytes.NewReader(out), "")
		if err != nil {
			t.Fatalf("our encode wrote an image we cannot read: %v", err)
		}
		for _, pretty := range []bool{false, true} {
			n, err := ImageToNode(img, pretty, false)
			if err != nil {
				t.Fatalf("decode (pretty=%v): %v", pretty, err)
			}
			var js bytes.Buffer
			if err := WriteJSON(&js, n, pretty); err != nil {
				t.Fatal(err)
			}
			again, err := EncodeJSON(js.Bytes())
			if err != nil {
				t.Fatalf("encode of our own decode (pretty=%v) failed: %v\n%s", pretty, err, js.String())
			}
			if !bytes.Equal(again, out) {
				t.Fatalf("decode|encode (pretty=%v) changed the image:\n%x\n%x\n%s", pretty, out, again, js.String())
			}
		}
	})
}

// FuzzDecodeImage: no image bytes make decode panic, and the JSON of any
// image decode accepts encodes again.
func FuzzDecodeImage(f *testing.F) {
	for _, b := range fixtureSeeds("criu-4.2/images/state/*.img") {
		f.Add(b)
	}
	f.Add([]byte("\x19\x43\x56\x54\x09\x37\x45\x56\x04\x00\x00\x00\x08\x01\x10\x01x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := image.ReadImage(bytes.NewReader(data), "")
		if err != nil {
			return
		}
		for _, pretty := range []bool{false, true} {
			n, err := ImageToNode(img, pretty, false)
			if err != nil {
				return // a message crit cannot show either (an unsupported field type)
			}
			var js bytes.Buffer
			if err := WriteJSON(&js, n, pretty); err != nil {
				t.Fatal(err)
			}
			if _, err := EncodeJSON(js.Bytes()); err != nil {
				t.Fatalf("encode of our decode (pretty=%v): %v\n%s", pretty, err, js.String())
			}
		}
	})
}

// fixtureSeeds returns the small fixture files matching pattern, as extra
// seeds; none when the fixtures are absent (the hand-written seeds remain).
func fixtureSeeds(pattern string) [][]byte {
	root, ok := testutil.LookupFixturesDir()
	if !ok {
		return nil
	}
	var seeds [][]byte
	matches, _ := filepath.Glob(filepath.Join(root, pattern))
	for _, m := range matches {
		if b, err := os.ReadFile(m); err == nil && len(b) < 64<<10 {
			seeds = append(seeds, b)
		}
	}
	return seeds
}
