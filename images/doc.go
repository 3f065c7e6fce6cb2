// Package images holds CRIU's image schema: the protobuf messages that make
// up every image file CRIU 4.2 writes, as .proto files and the Go code
// protoc-gen-go generates from them.
//
// # What an image file looks like
//
// The messages here are the payload of an image file; the framing around
// them belongs to pkg/image. For orientation:
//
//	+------------+-----------+----------+------------------+----------+-----
//	| u32 common | u32 magic | u32 size | size bytes: one  | u32 size | ...
//	| magic (LE) | (LE) kind | (LE)     | protobuf message |          |
//	+------------+-----------+----------+------------------+----------+-----
//
// The common magic is IMG_COMMON (0x54564319) or IMG_SERVICE (0x55105940);
// inventory.img has no common magic (its header is the 4-byte magic alone).
// Most kinds repeat one message type to the end of the file; a few do not:
// a pagemap image starts with one pagemap_head and continues with
// pagemap_entry records; a ghost file image has one ghost_file_entry and then
// either raw file bytes or ghost_chunk_entry records each followed by its
// bytes; pipe data, socket queues, TCP streams, SysV IPC objects and BPF maps
// put raw bytes after some entries, sized by fields of that entry.
//
// # Naming and wire compatibility
//
// Every file is proto2 in package criu, and every message, field, enum and
// enum value keeps CRIU's own name (core_entry, pagemap_entry.nr_pages,
// fd_types.PIDFD, ...), field numbers, types, labels and defaults. This makes
// the binary encoding identical to CRIU's and the protobuf field names
// identical to the keys of crit's JSON. The Go names follow protoc-gen-go's
// rules (core_entry becomes CoreEntry, fd_types.REG becomes FdTypes_REG).
//
// One field is criugo's own, where CRIU 4.2 has no place for a state the
// restore needs and the state belongs to a message of CRIU's:
// vma_entry.criugo_sealed (number 1000, far from CRIU's numbers), set on a
// mapping sealed with mseal(2). CRIU's readers (protobuf-c, pycriu) skip a
// field they do not know, so CRIU still restores such an image (the seal
// lost) and its crit still decodes it.
//
// opts.proto declares CRIU's field option extension (criu.criu, number 1018,
// of type CRIU_Opts). It does not change the wire format; it tells a JSON
// printer how to show a field: hex numbers, dotted IP addresses, named flag
// bits, "major:minor" device numbers, dictionary names for numbers, and a
// few special conversions. The options sit on exactly the fields where CRIU
// puts them, so pkg/crit can reproduce crit's output from the descriptors.
//
// # Where the facts come from
//
// The schema was written for this project from the format's facts: the
// compiled descriptors shipped in Debian's CRIU 3.17 Python package
// (pycriu/images/*_pb2.py), the additions made up to CRIU 4.2 as found in
// CRIU's public sources, and the image sets written by CRIU 4.2 in
// ../shared/fixtures together with the JSON its crit printed for them. The
// tests in this package decode every one of those fixture images and check
// that no field is unknown, so a wrong number or type shows up as a failure.
//
// # Regenerating
//
// The .pb.go files are generated and committed. After editing a .proto file,
// run `make generate` (scripts/gen-protos.sh), which builds protoc-gen-go at
// the version pinned in go.mod's tool block and runs the system protoc over
// all .proto files; the output is deterministic, and CI fails if committed
// code differs from a fresh generation.
package images
