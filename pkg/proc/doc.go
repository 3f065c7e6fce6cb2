// Package proc reads what a dump needs from /proc: a task's mappings
// (maps, smaps), status and stat, threads and children, open files (fd/,
// fdinfo/), POSIX timers, mounts, auxv, limits, namespaces, personality,
// cgroups and pagemap entries.
//
// Every file has a parser that takes an io.Reader and makes no syscalls
// (ParseStatus, ParseMaps, ...), so it builds on any OS and is tested with
// fixture text; FS (Linux only) opens the files of a pid or thread and
// calls them. Parsers are strict about the fields they use and skip lines
// they do not know, so newer kernels still parse.
//
// Errors: a malformed file gives a *ParseError that prints as
//
//	parse /proc/42/status line 7: field Uid: bad value "0 0": malformed input
//
// and matches one sentinel (ErrSyntax, ErrLineTooLong, ErrMissing,
// ErrTooLarge, ErrTruncated) with errors.Is. Lines are bounded by
// MaxLineLen and whole-file reads by a size fitting the file. Failing to
// open or read a file gives the *fs.PathError of package os unchanged, so
// errors.Is(err, fs.ErrNotExist) tells a task that is gone.
//
// The binary files:
//
//	auxv:    | type u64 | value u64 | ... | 0 | 0 |        (AT_NULL ends it)
//	pagemap: | entry u64 for page 0 | entry u64 for page 1 | ...
//	          offset of the entry of address A = A / pagesize * 8
//
// The layout of a pagemap entry is drawn at PagemapEntry.
package proc
