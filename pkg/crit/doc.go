// Package crit is CRIU's crit in Go: it converts images to the JSON that
// CRIU's crit prints and back, byte for byte, and runs crit x's reports on
// an image set. Reading and writing the image files themselves (framing,
// payloads, directories, streams) is package image's job; this package
// owns the JSON side.
//
// # The JSON form
//
//	{"magic": "PIPES_DATA",                  <- image.Kind.Name
//	 "entries": [                            <- one per entry, file order
//	     {"pipe_id": 7,                      <- set fields only, by field number
//	      "bytes": 3,
//	      "extra": "YWJj\n"}]}               <- the payload, if the kind has one
//
// The rules are pycriu's (pb2dict.py of CRIU 4.2), restated:
//
//   - a message is an object of its set fields in field-number order; a
//     repeated field is a list; an enum is its value's name; a bytes field
//     is base64 in Python's encodebytes layout (76 characters and "\n" per
//     line), or quoted-printable for (criu).conv = "unix_name"; 64-bit
//     numbers are exact.
//   - with --pretty, integers take the form their (criu) option asks for,
//     first match wins: hex -> "0x1f" (also for every integer inside a
//     message field marked hex); dev -> "major:minor" (minor in the low 20
//     bits, or glibc's dev_t split with odev); flags -> "A | B | 0x40" from
//     crit's bit tables, or hex when crit has no table; dict -> a name from
//     crit's tables, else the number. A repeated ipadd field of 1 or 4 words
//     becomes ["127.0.0.1"] or ["::1"].
//   - payloads: base64 text for pipe/FIFO data, socket queues, ghost files,
//     shm and bpf-map data; {"inq", "outq"} for TCP streams; the values for
//     semaphores; [header, data, header, data, ...] for message queues,
//     headers never pretty.
//
// Encoding reads both the plain and the pretty forms (hex, octal and binary
// strings, flag names summed, device pairs, dict names, addresses) and is
// stricter than crit: an unknown key, a value of the wrong type or a name
// crit does not know is an error naming the JSON path and line.
//
// Output layout is Python's json.dump: indent=4 with separators "," and
// ": " when pretty, one line with ", " and ": " otherwise, and
// ensure_ascii escapes (\u00e9, surrogate pairs above U+FFFF, \u007f). A
// string byte that is not UTF-8 is written as the lone surrogate \udcXX
// (Python's surrogateescape) and read back as that byte, so that any image
// survives decode and encode.
//
// Where crit itself fails (an enum number the schema lacks, an ipadd list
// of 2 or 3 words, crit x on a task without images) this package prints the
// number, the plain list, or the task's pid line, instead of a traceback.
package crit
