package images_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/criugo/criugo/images"
)

// The tests below check the schema against image sets written by CRIU 4.2
// and the JSON its crit printed for them. They keep their own tiny framing
// reader on purpose: they test the schema, not pkg/image.

const (
	magicCommon  = 0x54564319 // IMG_COMMON: precedes the kind magic in most images
	magicService = 0x55105940 // IMG_SERVICE: same, for service images (stats)
)

// kind is one image kind: its magic name and number (as crit prints and as
// CRIU writes them) and the message its entries hold.
type kind struct {
	name  string
	magic uint32
	entry protoreflect.FullName
}

// kinds lists every magic whose image holds protobuf entries, with the
// entry message for each; the numbers are CRIU's (criu/include/magic.h).
var kinds = []kind{
	{"INVENTORY", 1479618838, "criu.inventory_entry"},
	{"CORE", 1426405447, "criu.core_entry"},
	{"IDS", 1413685296, "criu.task_kobj_ids_entry"},
	{"CREDS", 1409430855, "criu.creds_entry"},
	{"UTSNS", 1413952003, "criu.utsns_entry"},
	{"TIMENS", 1125205043, "criu.timens_entry"},
	{"PIDNS", 1628795686, "criu.pidns_entry"},
	{"IPC_VAR", 1393643527, "criu.ipc_var_entry"},
	{"FS", 1363163410, "criu.fs_entry"},
	{"GHOST_FILE", 1381512709, "criu.ghost_file_entry"},
	{"MM", 1464412192, "criu.mm_entry"},
	{"CGROUP", 1496855344, "criu.cgroup_entry"},
	{"TCP_STREAM", 1363563782, "criu.tcp_stream_entry"},
	{"STATS", 1460220678, "criu.stats_entry"},
	{"PAGEMAP", 1443381285, "criu.pagemap_entry"},
	{"PSTREE", 1344745520, "criu.pstree_entry"},
	{"REG_FILES", 1345730102, "criu.reg_file_entry"},
	{"NS_FILES", 1631141905, "criu.ns_file_entry"},
	{"EVENTFD_FILE", 1146238754, "criu.eventfd_file_entry"},
	{"EVENTPOLL_FILE", 1157773400, "criu.eventpoll_file_entry"},
	{"EVENTPOLL_TFD", 1145255750, "criu.eventpoll_tfd_entry"},
	{"SIGNALFD", 1462908960, "criu.signalfd_entry"},
	{"TIMERFD", 1346975506, "criu.timerfd_entry"},
	{"INOTIFY_FILE", 1212302385, "criu.inotify_file_entry"},
	{"INOTIFY_WD", 1414930441, "criu.inotify_wd_entry"},
	{"FANOTIFY_FILE", 1426678050, "criu.fanotify_file_entry"},
	{"FANOTIFY_MARK", 1448108085, "criu.fanotify_mark_entry"},
	{"VMAS", 1410479927, "criu.vma_entry"},
	{"PIPES", 1448162645, "criu.pipe_entry"},
	{"FIFO", 1479952697, "criu.fifo_entry"},
	{"SIGACT", 1429488129, "criu.sa_entry"},
	{"SIGNAL", 1495619143, "criu.siginfo_entry"},
	{"NETLINK_SK", 1476417044, "criu.netlink_sk_entry"},
	{"REMAP_FPATH", 1494432084, "criu.remap_file_path_entry"},
	{"MNTS", 1431714088, "criu.mnt_entry"},
	{"TTY_FILES", 1497575461, "criu.tty_file_entry"},
	{"TTY_INFO", 1497706550, "criu.tty_info_entry"},
	{"TTY_DATA", 1497444390, "criu.tty_data_entry"},
	{"RLIMIT", 1460746533, "criu.rlimit_entry"},
	{"TUNFILE", 1460942673, "criu.tunfile_entry"},
	{"EXT_FILES", 1495619137, "criu.ext_file_entry"},
	{"IRMAP_CACHE", 1459634265, "criu.irmap_cache_entry"},
	{"FILE_LOCKS", 1412576790, "criu.file_lock_entry"},
	{"FDINFO", 1445017394, "criu.fdinfo_entry"},
	{"UNIXSK", 1412905283, "criu.unix_sk_entry"},
	{"INETSK", 1447311441, "criu.inet_sk_entry"},
	{"PACKETSK", 1615152664, "criu.packet_sock_entry"},
	{"ITIMERS", 1464221782, "criu.itimer_entry"},
	{"POSIX_TIMERS", 1382037847, "criu.posix_timer_entry"},
	{"NETDEV", 1463236945, "criu.net_device_entry"},
	{"PIPES_DATA", 1447376649, "criu.pipe_data_entry"},
	{"FIFO_DATA", 1496526932, "criu.pipe_data_entry"},
	{"SK_QUEUES", 1445347366, "criu.sk_packet_entry"},
	{"IPCNS_SHM", 1177038916, "criu.ipc_shm_entry"},
	{"IPCNS_SEM", 1498886169, "criu.ipc_sem_entry"},
	{"IPCNS_MSG", 1430599479, "criu.ipc_msg_entry"},
	{"NETNS", 1435711314, "criu.netns_entry"},
	{"USERNS", 1430735110, "criu.userns_entry"},
	{"SECCOMP", 1681993801, "criu.seccomp_entry"},
	{"AUTOFS", 1228224835, "criu.autofs_entry"},
	{"FILES", 1445998904, "criu.file_entry"},
	{"CPUINFO", 1631600659, "criu.cpuinfo_entry"},
	{"MEMFD_INODE", 1212495001, "criu.memfd_inode_entry"},
	{"BPFMAP_FILE", 1464885570, "criu.bpfmap_file_entry"},
	{"BPFMAP_DATA", 1681014835, "criu.bpfmap_data_entry"},
	{"APPARMOR", 1497509959, "criu.apparmor_entry"},
	{"BINFMT_MISC", 1731474211, "criu.binfmt_misc_entry"},
}

func kindByName(name string) (kind, bool) {
	for _, k := range kinds {
		if k.name == name {
			return k, true
		}
	}
	return kind{}, false
}

func kindByMagic(m uint32) (kind, bool) {
	for _, k := range kinds {
		if k.magic == m {
			return k, true
		}
	}
	return kind{}, false
}

// entryMessage is the message of the i-th entry (from 0) of an image of
// kind k: the first entry of a pagemap image is its head, the entries after
// the first of a ghost file image are chunk headers.
func entryMessage(k kind, i int) protoreflect.FullName {
	switch {
	case k.name == "PAGEMAP" && i == 0:
		return "criu.pagemap_head"
	case k.name == "GHOST_FILE" && i > 0:
		return "criu.ghost_chunk_entry"
	}
	return k.entry
}

func newMessage(t *testing.T, name protoreflect.FullName) proto.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		t.Fatalf("find message %s: %v", name, err)
	}
	return mt.New().Interface()
}

// fixturesDir finds the shared CRIU fixtures: $CRIUGO_FIXTURES, else
// ../../shared/fixtures from this package (../shared/fixtures beside the
// repository root). The test is skipped, saying where it looked, when
// none exists.
func fixturesDir(t *testing.T) string {
	t.Helper()
	var cands []string
	if d := os.Getenv("CRIUGO_FIXTURES"); d != "" {
		cands = append(cands, d)
	}
	cands = append(cands, filepath.Join("..", "..", "shared", "fixtures"))
	for _, d := range cands {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	t.Skipf("CRIU fixtures not found in %v (set CRIUGO_FIXTURES)", cands)
	return ""
}

// fixtureFiles lists the regular files under sub of both fixture trees
// (criu-4.2 and criu-4.2-zoo), sorted, failing if there are none.
func fixtureFiles(t *testing.T, sub string) []string {
	t.Helper()
	base := fixturesDir(t)
	var files []string
	for _, tree := range []string{"criu-4.2", "criu-4.2-zoo"} {
		root := filepath.Join(base, tree, sub)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", root, err)
		}
	}
	if len(files) == 0 {
		t.Fatalf("no fixture files under %s/*/%s", base, sub)
	}
	sort.Strings(files)
	return files
}

// TestFixtureJSONKeys checks that every key of every entry crit printed is
// the name of a field of the message the entry comes from, recursively, so
// a missing or misnamed field in a .proto file fails here. Keys "extra"
// (crit's raw payload after an entry) are not fields and are skipped.
func TestFixtureJSONKeys(t *testing.T) {
	files := fixtureFiles(t, "json")
	seen := map[string]bool{}
	for _, p := range files {
		if !strings.HasSuffix(p, ".json") {
			continue
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Magic   string           `json:"magic"`
			Entries []map[string]any `json:"entries"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		k, ok := kindByName(doc.Magic)
		if !ok {
			t.Errorf("%s: magic %q not in the kinds table", p, doc.Magic)
			continue
		}
		seen[k.name] = true
		for i, e := range doc.Entries {
			m := newMessage(t, entryMessage(k, i))
			for _, problem := range checkKeys(m.ProtoReflect().Descriptor(), e, fmt.Sprintf("entries[%d]", i)) {
				t.Errorf("%s: %s", p, problem)
			}
		}
	}
	if len(seen) < 30 {
		t.Errorf("only %d kinds seen in the fixture JSON, want the 34 of the zoo", len(seen))
	}
}

// checkKeys returns one line per JSON key that names no field of md, and per
// enum value that names no value of its enum, looking into nested messages.
func checkKeys(md protoreflect.MessageDescriptor, obj map[string]any, path string) []string {
	var out []string
	keys := make([]string, 0, len(obj))
	for key := range obj {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if key == "extra" {
			continue
		}
		fd := md.Fields().ByName(protoreflect.Name(key))
		if fd == nil {
			out = append(out, fmt.Sprintf("%s.%s: %s has no such field", path, key, md.FullName()))
			continue
		}
		val := obj[key]
		var elems []any
		if list, ok := val.([]any); ok && fd.IsList() {
			elems = list
		} else {
			elems = []any{val}
		}
		for j, el := range elems {
			p := path + "." + key
			if fd.IsList() {
				p = fmt.Sprintf("%s[%d]", p, j)
			}
			switch fd.Kind() {
			case protoreflect.MessageKind, protoreflect.GroupKind:
				sub, ok := el.(map[string]any)
				if !ok {
					out = append(out, fmt.Sprintf("%s: message field holds %T", p, el))
					continue
				}
				out = append(out, checkKeys(fd.Message(), sub, p)...)
			case protoreflect.EnumKind:
				s, ok := el.(string)
				if !ok {
					out = append(out, fmt.Sprintf("%s: enum field holds %T", p, el))
					continue
				}
				if fd.Enum().Values().ByName(protoreflect.Name(s)) == nil {
					out = append(out, fmt.Sprintf("%s: %q is no value of %s", p, s, fd.Enum().FullName()))
				}
			}
		}
	}
	return out
}

// TestFixtureImagesDecode reads every binary fixture image with its own
// framing loop, unmarshals each entry into the message the kind says, and
// checks that no field was unknown (at any depth), that every required field
// was present, and that marshalling the message again gives back the same
// bytes: together these prove field numbers, wire types and integer widths.
func TestFixtureImagesDecode(t *testing.T) {
	files := fixtureFiles(t, "images")
	decoded := 0
	for _, p := range files {
		base := filepath.Base(p)
		if strings.HasPrefix(base, "pages-") {
			continue // raw memory, no header
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		k, msgs, err := decodeImage(t, data)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if len(msgs) == 0 {
			t.Errorf("%s: no entries", p)
		}
		decoded++
		// crit's JSON for this file must name the same kind and show the
		// same values, field by field.
		sep := string(filepath.Separator)
		jp := strings.Replace(p, sep+"images"+sep, sep+"json"+sep, 1)
		raw, err := os.ReadFile(jp + ".json")
		if errors.Is(err, fs.ErrNotExist) {
			raw, err = os.ReadFile(jp) // stats-dump.json has no .img
		}
		if err != nil {
			t.Errorf("%s: no crit JSON: %v", p, err)
			continue
		}
		var doc struct {
			Magic   string           `json:"magic"`
			Entries []map[string]any `json:"entries"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Errorf("%s: %v", jp, err)
			continue
		}
		if doc.Magic != k.name {
			t.Errorf("%s: magic %s, crit says %s", p, k.name, doc.Magic)
		}
		if len(doc.Entries) != len(msgs) {
			t.Errorf("%s: %d entries, crit printed %d", p, len(msgs), len(doc.Entries))
			continue
		}
		for i, m := range msgs {
			for _, problem := range compareJSON(m.ProtoReflect(), doc.Entries[i], fmt.Sprintf("entries[%d]", i), false) {
				t.Errorf("%s: %s", p, problem)
			}
		}
	}
	if decoded < 600 {
		t.Errorf("decoded only %d fixture images", decoded)
	}
}

var errShort = errors.New("image cut short")

// compareJSON returns one line per difference between a decoded message and
// the object crit printed for it (crit decode --pretty): the set fields must
// be exactly the keys (besides "extra"), values must agree, and each number
// must be shown the way the field's (criu) options ask, which checks the
// options: hex (inherited by nested messages, as crit does), dev, flags and
// dict. Bytes (base64) are left to the re-encoding check.
func compareJSON(m protoreflect.Message, obj map[string]any, path string, hex bool) []string {
	var out []string
	fields := m.Descriptor().Fields()
	for key := range obj {
		if key == "extra" {
			continue
		}
		fd := fields.ByName(protoreflect.Name(key))
		if fd == nil || !m.Has(fd) {
			out = append(out, fmt.Sprintf("%s.%s: in crit's JSON but not set in the decoded message", path, key))
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		j, ok := obj[string(fd.Name())]
		if !ok {
			out = append(out, fmt.Sprintf("%s: set in the decoded message but not in crit's JSON", p))
			return true
		}
		if !fd.IsList() {
			return appendDiff(&out, fd, v, j, p, hex)
		}
		if criuOpts(fd).GetIpadd() {
			return true // crit joins the words of an address into one string
		}
		list, ok := j.([]any)
		if !ok || len(list) != v.List().Len() {
			out = append(out, fmt.Sprintf("%s: %d elements, crit printed %v", p, v.List().Len(), j))
			return true
		}
		for i := range list {
			appendDiff(&out, fd, v.List().Get(i), list[i], fmt.Sprintf("%s[%d]", p, i), hex)
		}
		return true
	})
	return out
}

func appendDiff(out *[]string, fd protoreflect.FieldDescriptor, v protoreflect.Value, j any, p string, hex bool) bool {
	bad := func(why string) {
		*out = append(*out, fmt.Sprintf("%s: decoded %v, crit printed %v (%s)", p, v, j, why))
	}
	o := criuOpts(fd)
	hex = hex || o.GetHex()
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		sub, ok := j.(map[string]any)
		if !ok {
			bad("not an object")
			return true
		}
		*out = append(*out, compareJSON(v.Message(), sub, p, hex)...)
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByNumber(v.Enum())
		if ev == nil || j != string(ev.Name()) {
			bad("enum")
		}
	case protoreflect.BoolKind:
		if j != v.Bool() {
			bad("bool")
		}
	case protoreflect.StringKind:
		if j != v.String() {
			bad("string")
		}
	case protoreflect.BytesKind:
		// base64 (or a conversion); the re-encoding check covers the bytes.
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		bad("CRIU has no floating point fields")
	default:
		signed := false
		switch fd.Kind() {
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
			protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			signed = true
		}
		var u uint64 // the bits, for hex and devices
		var num string
		if signed {
			u, num = uint64(v.Int()), fmt.Sprint(v.Int())
		} else {
			u, num = v.Uint(), fmt.Sprint(v.Uint())
		}
		js, isString := j.(string)
		jn, isNumber := j.(json.Number)
		switch {
		case hex:
			want := fmt.Sprintf("0x%x", u)
			if signed && v.Int() < 0 {
				want = fmt.Sprintf("-0x%x", -v.Int())
			}
			if js != want {
				bad("want hex " + want)
			}
		case o.GetDev():
			if js != devString(u, o.GetOdev()) {
				bad("want device " + devString(u, o.GetOdev()))
			}
		case o.GetFlags() != "":
			if !isString {
				bad("want flag names")
			}
		case o.GetDict() != "":
			if !isString && !(isNumber && jn.String() == num) {
				bad("want a dictionary name")
			}
		default:
			if !isNumber || jn.String() != num {
				bad("want the plain number " + num)
			}
		}
	}
	return true
}

// devString formats a device number as crit does: "major:minor", decoded
// as the kernel's internal dev_t (20 minor bits) or, for (criu).odev
// fields, as glibc's user-space dev_t.
func devString(dev uint64, odev bool) string {
	if odev {
		major := (dev>>8)&0xfff | (dev>>32)&^0xfff
		minor := dev&0xff | (dev>>12)&^0xff
		return fmt.Sprintf("%d:%d", major, minor)
	}
	return fmt.Sprintf("%d:%d", dev>>20, dev&(1<<20-1))
}

// criuOpts returns the (criu) field options of fd, or nil.
func criuOpts(fd protoreflect.FieldDescriptor) *images.CRIU_Opts {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	if !ok || opts == nil {
		return nil
	}
	return proto.GetExtension(opts, images.E_Criu).(*images.CRIU_Opts)
}

// decodeImage decodes all entries of one image and returns its kind and the
// entries (as crit counts them).
func decodeImage(t *testing.T, data []byte) (kind, []proto.Message, error) {
	t.Helper()
	var msgs []proto.Message
	r := bytes.NewReader(data)
	var m uint32
	if err := binary.Read(r, binary.LittleEndian, &m); err != nil {
		return kind{}, nil, fmt.Errorf("read magic: %w", err)
	}
	if m == magicCommon || m == magicService {
		if err := binary.Read(r, binary.LittleEndian, &m); err != nil {
			return kind{}, nil, fmt.Errorf("read kind magic: %w", err)
		}
	}
	k, ok := kindByMagic(m)
	if !ok {
		return kind{}, nil, fmt.Errorf("unknown magic %#x", m)
	}
	for {
		n := len(msgs)
		msg, err := readEntry(t, r, entryMessage(k, n))
		if err == io.EOF {
			return k, msgs, nil
		}
		if err != nil {
			return k, msgs, fmt.Errorf("entry %d: %w", n, err)
		}
		msgs = append(msgs, msg)
		if err := skipPayload(t, r, msg); err != nil {
			return k, msgs, fmt.Errorf("payload of entry %d: %w", n, err)
		}
		if g, ok := msg.(*images.GhostFileEntry); ok && !g.GetChunks() {
			return k, msgs, nil // the rest of the file is the ghost's bytes
		}
	}
}

// readEntry reads one u32-size-prefixed message; io.EOF means a clean end.
// It fails on unknown fields at any depth, on missing required fields, and
// when marshalling the message again does not give back the same bytes.
func readEntry(t *testing.T, r *bytes.Reader, name protoreflect.FullName) (proto.Message, error) {
	var size uint32
	if err := binary.Read(r, binary.LittleEndian, &size); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, errShort
	}
	if int64(size) > int64(r.Len()) {
		return nil, fmt.Errorf("size %d past the end: %w", size, errShort)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, errShort
	}
	msg := newMessage(t, name)
	if err := proto.Unmarshal(buf, msg); err != nil {
		return nil, fmt.Errorf("unmarshal %s: %w", name, err)
	}
	if u := unknownFields(msg.ProtoReflect(), string(name)); len(u) > 0 {
		return nil, fmt.Errorf("unknown fields: %s", strings.Join(u, ", "))
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("marshal %s again: %w", name, err)
	}
	if !bytes.Equal(again, buf) {
		return nil, fmt.Errorf("%s re-encodes to different bytes:\n got %x\nwant %x", name, again, buf)
	}
	return msg, nil
}

// unknownFields lists, with their paths, the messages that kept bytes no
// field of theirs claimed (proto2 also keeps unknown enum numbers there).
func unknownFields(m protoreflect.Message, path string) []string {
	var out []string
	if u := m.GetUnknown(); len(u) > 0 {
		out = append(out, fmt.Sprintf("%s (%d bytes: %x)", path, len(u), u))
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		p := path + "." + string(fd.Name())
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				out = append(out, unknownFields(l.Get(i).Message(), fmt.Sprintf("%s[%d]", p, i))...)
			}
			return true
		}
		out = append(out, unknownFields(v.Message(), p)...)
		return true
	})
	return out
}

// skipPayload skips the raw bytes CRIU writes after an entry of some kinds,
// sized by fields of that entry.
func skipPayload(t *testing.T, r *bytes.Reader, msg proto.Message) error {
	skip := func(n uint64) error {
		if n > uint64(r.Len()) {
			return fmt.Errorf("%d payload bytes past the end: %w", n, errShort)
		}
		_, err := r.Seek(int64(n), io.SeekCurrent)
		return err
	}
	roundUp := func(n, to uint64) uint64 { return (n + to - 1) / to * to }
	switch e := msg.(type) {
	case *images.PipeDataEntry:
		return skip(uint64(e.GetBytes()))
	case *images.SkPacketEntry:
		return skip(uint64(e.GetLength()))
	case *images.TcpStreamEntry:
		return skip(uint64(e.GetInqLen()) + uint64(e.GetOutqLen()))
	case *images.GhostChunkEntry:
		return skip(e.GetLen())
	case *images.BpfmapDataEntry:
		return skip(uint64(e.GetKeysBytes()) + uint64(e.GetValuesBytes()))
	case *images.IpcShmEntry:
		if e.GetInPagemaps() {
			return nil // the contents went to a pagemap-shmem image
		}
		return skip(roundUp(e.GetSize(), 4))
	case *images.IpcSemEntry:
		return skip(roundUp(2*uint64(e.GetNsems()), 8))
	case *images.IpcMsgEntry:
		for i := uint32(0); i < e.GetQnum(); i++ {
			m, err := readEntry(t, r, "criu.ipc_msg")
			if err != nil {
				if err == io.EOF {
					err = errShort
				}
				return fmt.Errorf("message %d: %w", i, err)
			}
			if err := skip(roundUp(uint64(m.(*images.IpcMsg).GetMsize()), 8)); err != nil {
				return err
			}
		}
	}
	return nil
}
