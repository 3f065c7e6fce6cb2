// Package image owns CRIU's image format as files and streams: the table of
// image kinds (magic numbers, file names, messages), the framing of entries
// in a file, the raw payloads some kinds put between entries, image
// directories, and the tar stream that carries an image set through a pipe.
// It makes no syscalls beyond opening files and builds on any OS; the
// protobuf messages themselves live in package images.
//
// # Image files
//
// An image file is a header and a sequence of entries. The header is two
// little-endian u32s, a set magic and the kind's magic, except for
// inventory.img, which begins with its own magic alone, and raw images
// (pages-*.img, ifaddr-*.img, tmpfs-*.tar.gz.img, ...), which have no header
// and no entries at all:
//
//	inventory.img    other images                       raw images
//	+-----------+    +---------------+-----------+       +------------------+
//	| u32 magic |    | u32 set magic | u32 magic |       | bytes, no header |
//	+-----------+    +---------------+-----------+       +------------------+
//	                   0x54564319 IMG_COMMON
//	                   0x55105940 IMG_SERVICE (stats-*, irmap-cache)
//
// Entries follow the header up to the end of the file; the file ends
// cleanly only right after an entry (or its payload):
//
//	+----------+------------------------+---------------------------+
//	| u32 size | size bytes: one        | payload, for the kinds    |
//	| (LE)     | protobuf message       | below; nothing otherwise  |
//	+----------+------------------------+---------------------------+
//
// Messages are encoded as CRIU's protobuf-c encodes them (fields in number
// order, packed where the .proto says), so decoding and re-encoding a file
// CRIU wrote gives back the same bytes.
//
// In an image directory a file is created with O_EXCL, O_NOFOLLOW and mode
// 0600 (CreateFile, WriteFile), so nothing planted there is followed or
// reused. A file a later run writes again into an existing set
// (stats-restore after each restore) goes in with ReplaceFile: a temporary
// file renamed over the name, so a reader sees the old file or the new one.
//
// # Kinds with more than entries
//
//	kind           entries                     after each entry
//	PAGEMAP        pagemap_head, then          nothing; the pages are in
//	               pagemap_entry ...           pages-<pages_id>.img
//	PIPES_DATA     pipe_data_entry             bytes (field 2) bytes
//	FIFO_DATA      pipe_data_entry             bytes (field 2) bytes
//	SK_QUEUES      sk_packet_entry             length (field 2) bytes
//	TCP_STREAM     tcp_stream_entry            inq_len bytes, then outq_len bytes
//	IPCNS_SHM      ipc_shm_entry               size bytes, zero-padded to 4;
//	                                           none when in_pagemaps is set
//	IPCNS_SEM      ipc_sem_entry               nsems u16 (LE), zero-padded to 8
//	IPCNS_MSG      ipc_msg_entry               qnum times: u32 size, ipc_msg,
//	                                           msize bytes zero-padded to 8
//	BPFMAP_DATA    bpfmap_data_entry           keys_bytes + values_bytes bytes
//	GHOST_FILE     ghost_file_entry            chunks unset: the file's bytes
//	                                           to the end of the image
//	               ghost_chunk_entry ...       chunks set: len bytes each
//
// A Reader hands out one Entry at a time with its payload in Entry.Extra; a
// Writer takes them back and checks each payload against the lengths its
// message announces. Every size read from input is bounded (MaxEntrySize,
// MaxPayloadSize) and memory is allocated as bytes arrive, so a lying size
// in a short file costs nothing. Errors name the file and the byte offset.
//
// # Streams
//
// A stream is a tar archive (ustar; PAX headers only for members over 8 GiB;
// regular files only, flat names, mode 0600) of the image files of one set, optionally inside zstd frames;
// readers recognise zstd by its magic 28 B5 2F FD. tar -x turns a plain
// stream into the image directory.
//
//	[zstd frames, optional]
//	+--------+---------------+--------+------------+-- ... --+-------------+
//	| header | inventory.img | header | pstree.img |         | two zero    |
//	| 512 B  | padded to 512 | 512 B  |            |         | blocks      |
//	+--------+---------------+--------+------------+-- ... --+-------------+
//
// Files go in StreamOrder: inventory, pstree, the images of the whole tree
// and its namespaces, then task by task (core, ids, ..., mm, the pagemap and
// right after it the pages it describes), shared-memory pagemaps each with
// its pages, and the stats file last. A stream that ends before the two zero
// blocks is cut, and reading it is ErrTruncated naming the file it was in.
//
// A StreamReader also reads the archives people make of an image set, such
// as `tar -C DIR -cf - .` and Podman's `container checkpoint --export`:
//
//	./                       config.dump, spec.dump, network.status,
//	./inventory.img          rootfs-diff.tar, deleted.files, bind.mounts,
//	./pstree.img             devshm-checkpoint.tar, volumes/..., stats-dump
//	...                      checkpoint/
//	                         checkpoint/inventory.img ...
//
// It hands out the image files (names KindForFile knows) of one directory,
// by their base names: the "./" before a name is dropped, and the first
// image file fixes the directory (the top of the archive, or one directory
// below it); a service file at the top (Podman's stats-dump, which CRIU
// writes into its work directory) is taken too, and fixes nothing.
// Directory entries, PAX global headers and files that are no images are
// skipped, wherever they are. Every member is still checked, skipped or
// not: a name that is absolute, holds "..", or is not in its shortest
// form is ErrBadName; a link, a device, a FIFO or a sparse file is
// ErrNotRegular; a size over MaxStreamFileSize is ErrTooLarge. Image files
// in two directories, two or more directories deep, or twice under one
// name are ErrBadName, naming the member. Regular files may have tar's
// type '0', the pre-POSIX '\x00' or '7'; long names may come in PAX
// records or GNU long-name headers.
//
// A user's archive is in directory order, not StreamOrder; readers that
// need the order (a restore that consumes the stream as it comes) hold what
// comes early until what it needs has come.
//
// # Incremental chains
//
// A dump made on top of an earlier one (CRIU's --prev-images-dir) holds a
// parent entry, usually a relative symlink, naming the earlier set; its
// pagemap entries flagged PE_PARENT have their pages there, and that set
// may point to its own parent in turn. Chain follows the links (the link
// itself is followed, files inside are not: OpenFile), bounded by
// MaxChainDepth and refusing loops:
//
//	dump2/                     dump1/                    pre/
//	  parent -> ../dump1         parent -> ../pre          (no parent)
//	  pagemap-42.img             pagemap-42.img            pagemap-42.img
//	    PE_PARENT 0x1000+4  ---►   PE_PRESENT 0x1000+2 ...
//	                               PE_PARENT  0x3000+2 ---►  PE_PRESENT ...
//
// # Pagemaps
//
// ParsePagemap is the one reader of pagemap images: it turns the entries
// into checked runs (address, pages, present / in the parent / lazy, and
// where a present run's pages begin in its pages file), with CRIU's rule
// for the entries of older CRIU. A ParentChain resolves a run in the
// parent to pieces of the parents' pages files, following PE_PARENT up
// the chain; restore, the imgtool's dedup and verify, and the dump's
// write tracking all read pagemaps through these two:
//
//	pagemap-42.img              pages-7.img
//	+------+-----------------+  +-----------------------+
//	| head | 0x1000+2 PRESENT|->| off 0: 2 pages        |
//	| id 7 | 0x3000+1 PARENT |  | off 0x2000: 3 pages   |
//	|      | 0x6000+3 PRESENT|->|                       |
//	+------+-----------------+  +-----------------------+
package image
