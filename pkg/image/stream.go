package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/klauspost/compress/zstd"
)

// zstdMagic opens every zstd frame; a stream starting with it is compressed.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// Stream limits.
const (
	// MaxStreamFileSize bounds the size a stream member may announce.
	MaxStreamFileSize = 1 << 40
	// maxZstdWindow bounds the window a zstd frame may ask the decoder to
	// allocate; zstd -long=27 needs 128 MiB.
	maxZstdWindow = 128 << 20
)

// tarBlock is the unit of a tar archive; it ends with two zero blocks.
const tarBlock = 512

// StreamWriter writes a stream: a tar archive of image files, optionally
// compressed with zstd. Members are regular files with mode 0600, owner 0
// and a zero modification time, so the same files give the same bytes.
type StreamWriter struct {
	tw    *tar.Writer
	zw    *zstd.Encoder // nil when not compressing
	names map[string]bool
	err   error // sticky: a failed member leaves the archive unusable
}

// NewStreamWriter starts a stream on w, zstd-compressed when compress is set.
func NewStreamWriter(w io.Writer, compress bool) (*StreamWriter, error) {
	s := &StreamWriter{names: map[string]bool{}}
	if compress {
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			return nil, fmt.Errorf("start zstd stream: %w", err)
		}
		s.zw = zw
		w = zw
	}
	s.tw = tar.NewWriter(w)
	return s, nil
}

// AddFile appends the file name with size bytes read from r. r giving
// fewer bytes is ErrTruncated naming the file.
func (s *StreamWriter) AddFile(name string, size int64, r io.Reader) error {
	if s.err != nil {
		return s.err
	}
	if err := CheckName(name); err != nil {
		return fmt.Errorf("add %s to stream: %w", name, err)
	}
	if s.names[name] {
		return fmt.Errorf("add %s to stream: already added: %w", name, ErrBadName)
	}
	if size < 0 || size > MaxStreamFileSize {
		return fmt.Errorf("add %s to stream: size %d out of range: %w", name, size, ErrTooLarge)
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     0o600,
		Size:     size,
		ModTime:  time.Unix(0, 0),
	}
	if err := s.tw.WriteHeader(hdr); err != nil {
		s.err = fmt.Errorf("add %s to stream: %w", name, err)
		return s.err
	}
	s.names[name] = true
	n, err := io.CopyN(s.tw, r, size)
	if err == io.EOF {
		err = ErrTruncated
	}
	if err != nil {
		s.err = fmt.Errorf("add %s to stream: after %d of %d bytes: %w", name, n, size, err)
		return s.err
	}
	return nil
}

// AddBytes appends the file name holding data.
func (s *StreamWriter) AddBytes(name string, data []byte) error {
	return s.AddFile(name, int64(len(data)), bytes.NewReader(data))
}

// Close ends the archive and the zstd frame. It does not close the
// underlying writer.
func (s *StreamWriter) Close() error {
	if s.err != nil {
		if s.zw != nil {
			s.zw.Close()
		}
		return s.err
	}
	if err := s.tw.Close(); err != nil {
		return fmt.Errorf("end stream: %w", err)
	}
	if s.zw != nil {
		if err := s.zw.Close(); err != nil {
			return fmt.Errorf("end zstd stream: %w", err)
		}
	}
	return nil
}

// StreamReader reads a stream member by member, decompressing it on the fly
// when it starts with the zstd magic.
//
// It hands out the image files of one set, named by their base names,
// from an archive ours or one a user or Podman made (see members.go):
// anything else in the archive is skipped.
type StreamReader struct {
	cr   *countingReader
	tr   *tar.Reader
	zr   *zstd.Decoder // nil when not compressed
	cur  *StreamFile   // the member being read; nil before the first and after a skipped one
	last string        // the archive's name of the last member, handed out or skipped
	end  int64         // offset in the tar where the last member's blocks end
	set  imageDir      // where the image files are, and which have come
	err  error         // sticky
}

// StreamFile is one image file of a stream, Name its base name (the
// archive's member may have been ./core-1.img or checkpoint/core-1.img).
// Read it before asking the StreamReader for the next one; reading it past
// its end gives io.EOF, and a stream cut inside it gives ErrTruncated
// naming it.
type StreamFile struct {
	Name string
	Size int64
	s    *StreamReader
}

// NewStreamReader starts reading the stream r.
func NewStreamReader(r io.Reader) (*StreamReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	s := &StreamReader{}
	var src io.Reader = br
	if head, _ := br.Peek(len(zstdMagic)); bytes.Equal(head, zstdMagic) {
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("start zstd stream: %w", err)
		}
		s.zr = zr
		src = zr
	}
	s.cr = &countingReader{r: src}
	s.tr = tar.NewReader(s.cr)
	return s, nil
}

// Next returns the next member. At the end of the archive (both of tar's
// closing zero blocks read) it returns io.EOF; a stream that ends anywhere
// else is ErrTruncated naming the member it was in or after.
func (s *StreamReader) Next() (*StreamFile, error) {
	if s.err != nil {
		return nil, s.err
	}
	f, err := s.next()
	if err != nil {
		s.err = err
		s.Close()
	}
	return f, err
}

func (s *StreamReader) next() (*StreamFile, error) {
	for {
		where := "at start"
		if s.last != "" {
			where = "after " + s.last
		}
		hdr, err := s.tr.Next()
		if err == io.EOF {
			// tar says EOF both at the closing blocks and when the input
			// just stops between members; only the first is a whole stream.
			if s.cr.n < s.end+2*tarBlock {
				return nil, fmt.Errorf("read stream %s: no end-of-archive marker: %w", where, ErrTruncated)
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("read stream %s: %w", where, streamErr(err))
		}
		s.cur, s.last = nil, hdr.Name
		name, err := s.set.member(hdr)
		if err != nil {
			return nil, fmt.Errorf("read stream: member %s: %w", hdr.Name, err)
		}
		// member has bounded the size.
		s.end = s.cr.n + dataBlocks(hdr)
		if name == "" {
			// Skipped: tar discards its data on the next call.
			continue
		}
		s.cur = &StreamFile{Name: name, Size: hdr.Size, s: s}
		return s.cur, nil
	}
}

// dataBlocks is how many bytes of the archive the data of hdr takes. A
// header-only type (a directory, a link) has none, whatever its size says.
func dataBlocks(hdr *tar.Header) int64 {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeCont:
		if hdr.Size > 0 {
			return (hdr.Size + tarBlock - 1) / tarBlock * tarBlock
		}
	}
	return 0
}

// Read reads the member's content.
func (f *StreamFile) Read(p []byte) (int, error) {
	if f.s.cur != f {
		return 0, fmt.Errorf("read stream member %s: the stream has moved past it: %w", f.Name, io.ErrClosedPipe)
	}
	n, err := f.s.tr.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read stream member %s: %w", f.Name, streamErr(err))
	}
	return n, err
}

// Close releases the decompressor. It does not close the underlying reader.
func (s *StreamReader) Close() error {
	if s.zr != nil {
		s.zr.Close()
		s.zr = nil
	}
	return nil
}

// streamErr maps what tar and zstd report to this package's sentinels.
func streamErr(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ErrTruncated
	case errors.Is(err, tar.ErrHeader), errors.Is(err, zstd.ErrMagicMismatch), errors.Is(err, zstd.ErrCRCMismatch),
		errors.Is(err, zstd.ErrBlockTooSmall), errors.Is(err, zstd.ErrWindowSizeExceeded),
		errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrUnknownDictionary):
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// countingReader counts the bytes tar consumes, to tell a stream that
// ended properly from one cut between members.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// PackDir writes the image files of dir (see ListDir) to w as a stream, in
// StreamOrder, zstd-compressed when compress is set.
func PackDir(dir string, w io.Writer, compress bool) error {
	names, err := ListDir(dir)
	if err != nil {
		return err
	}
	pagesOf := map[string]string{}
	for _, n := range names {
		if k := KindForFile(n); k != Pagemap && k != ShmemPagemap {
			continue
		}
		id, err := pagesIDOf(dir, n)
		if err != nil {
			return fmt.Errorf("pack %s: %w", dir, err)
		}
		pagesOf[n] = Pages.FileName(id)
	}
	sw, err := NewStreamWriter(w, compress)
	if err != nil {
		return err
	}
	for _, n := range StreamOrder(names, pagesOf) {
		if err := addDirFile(sw, dir, n); err != nil {
			sw.Close()
			return fmt.Errorf("pack %s: %w", dir, err)
		}
	}
	if err := sw.Close(); err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	return nil
}

func addDirFile(sw *StreamWriter, dir, name string) error {
	f, err := OpenFile(dir, name)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return sw.AddFile(name, st.Size(), f)
}

// pagesIDOf reads the head of the pagemap file name in dir.
func pagesIDOf(dir, name string) (uint64, error) {
	f, err := OpenFile(dir, name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rd, err := NewReader(bufio.NewReader(f), name)
	if err != nil {
		return 0, err
	}
	head, err := rd.Next()
	if err == io.EOF {
		return 0, fmt.Errorf("read %s: no pagemap head: %w", name, ErrTruncated)
	}
	if err != nil {
		return 0, err
	}
	return PagemapPagesID(head.Msg)
}

// UnpackStream reads a stream from r and writes each member as a file of
// dir (created with mode 0700 if missing), with CreateFile: a name that
// already exists is an error. A member cut short is removed, not left
// behind truncated.
func UnpackStream(r io.Reader, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("unpack stream: %w", err)
	}
	sr, err := NewStreamReader(r)
	if err != nil {
		return err
	}
	defer sr.Close()
	for {
		sf, err := sr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpack stream: %w", err)
		}
		if err := unpackFile(sf, dir); err != nil {
			return fmt.Errorf("unpack stream: %w", err)
		}
	}
}

func unpackFile(sf *StreamFile, dir string) (err error) {
	f, err := CreateFile(dir, sf.Name)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(filepath.Join(dir, sf.Name))
		}
	}()
	if _, err := io.Copy(f, sf); err != nil {
		return err
	}
	return nil
}

// taskKinds are the kinds whose file-name id is a task's pid, in the order
// a task's files go into a stream; the pagemap comes last, so its pages can
// follow right after.
var taskKinds = []*Kind{Core, IDs, Creds, FS, MM, Vmas, Sigact, Itimers, PosixTimers, Rlimit, Signal, PSignal, FileLocksPid, Pagemap}

// StreamOrder sorts image file names into the order of a stream:
//
//	inventory.img, pstree.img (and nspid.img)
//	images of the whole tree or of namespaces (files.img, fdinfo-*, ...)
//	per task, by pid: core, ids, ..., mm, then pagemap-<pid> and its pages
//	shared-memory pagemaps, each followed by its pages
//	pages no pagemap claims, files of unknown kinds
//	service files (stats-*, irmap-cache)
//
// pagesOf maps a pagemap file name to the pages file it describes (its
// head's pages_id). Within a group, files go by kind, then by numeric id.
func StreamOrder(names []string, pagesOf map[string]string) []string {
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	claimed := map[string]bool{}
	for pm, pg := range pagesOf {
		if present[pm] && present[pg] {
			claimed[pg] = true
		}
	}
	var rest []string
	for _, n := range names {
		if !claimed[n] {
			rest = append(rest, n)
		}
	}
	keys := make(map[string]orderKey, len(rest))
	for _, n := range rest {
		keys[n] = streamKey(n)
	}
	sort.SliceStable(rest, func(i, j int) bool { return keys[rest[i]].less(keys[rest[j]]) })
	out := make([]string, 0, len(names))
	emitted := map[string]bool{}
	for _, n := range rest {
		if emitted[n] {
			continue
		}
		out = append(out, n)
		emitted[n] = true
		if pg, ok := pagesOf[n]; ok && claimed[pg] && !emitted[pg] {
			out = append(out, pg)
			emitted[pg] = true
		}
	}
	return out
}

type orderKey struct {
	group int    // which block of the stream
	pid   uint64 // per-task block: the task
	kind  int    // position of the kind in its table
	id    uint64 // numeric file id
	name  string
}

func (a orderKey) less(b orderKey) bool {
	if a.group != b.group {
		return a.group < b.group
	}
	if a.pid != b.pid {
		return a.pid < b.pid
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	if a.id != b.id {
		return a.id < b.id
	}
	return a.name < b.name
}

const (
	groupFreeze = iota // freeze.img leads a seize stream (see pkg/seize)
	groupInventory
	groupPstree
	groupGlobal
	groupTask
	groupShmem
	groupLoose
	groupService
)

func streamKey(name string) orderKey {
	k := KindForFile(name)
	key := orderKey{name: name}
	if k == nil {
		key.group = groupLoose
		return key
	}
	if s, ok := k.FileID(name); ok {
		base := 10
		if _, verb, _ := k.splitPattern(); verb == 'x' {
			base = 16
		}
		key.id, _ = strconv.ParseUint(s, base, 64)
	}
	for i, tk := range taskKinds {
		if tk == k {
			key.group, key.pid, key.kind, key.id = groupTask, key.id, i, 0
			return key
		}
	}
	for i, kk := range kinds {
		if kk == k {
			key.kind = i
		}
	}
	switch {
	case k == Inventory:
		key.group = groupInventory
	case k == Freeze:
		key.group = groupFreeze
	case k == Pstree, k == NsPid:
		key.group = groupPstree
	case k == ShmemPagemap:
		key.group = groupShmem
	case k == Pages:
		key.group = groupLoose
	case k.Service:
		key.group = groupService
	default:
		key.group = groupGlobal
	}
	return key
}
