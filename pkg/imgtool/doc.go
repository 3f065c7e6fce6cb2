// Package imgtool handles image sets as files, the library behind
// criu-imgtool: moving a set between a directory and a stream, compressing
// it, checking that it holds together, counting what it holds, comparing
// two sets and freeing what a chain of incremental dumps no longer needs.
//
// A Set is an image set read from a directory or a stream: every image is
// decoded; raw images (pages-*.img) are only measured, so a set of many
// gigabytes is checked without holding its memory (Diff asks for them to
// be kept: LoadOptions.KeepRaw).
//
// Verify checks more than that each image decodes. The set must hold
// together the way a restore will need it:
//
//	pstree.img ──► per task: core-<pid> (and core-<tid> per thread)
//	                living tasks also: ids-, fs-, mm-, pagemap-<pid>
//	ids-<pid> files_id ──► fdinfo-<files_id>.img ──► fd ids in files.img
//	fs-<pid> cwd_id, root_id; mm-<pid> exe_file_id, file VMAs ──► files.img
//	pagemap-<pid> runs sound (image.ParsePagemap), pages_id ──►
//	                pages-<n>.img, of exactly the present pages
//	pipes-data / fifo-data pipe_id ──► a pipe or fifo in files.img
//	remap-fpath remap_id ──► ghost-file-<id>.img for ghost remaps
//	parent link ──► a directory, no loop (image.Chain); a directory set's
//	                pagemap runs in the parent (PE_PARENT, in_parent) ──►
//	                held by parent/<same pagemap>, present or in its parent
//	                again (image.ParentChain), whose pages file matches it;
//	                a stream has none
//
// Diff compares two sets value by value: files only one holds, entries
// whose fields differ (by field path), raw images by their first differing
// byte. A Shape is a set with its values taken out: the number of files of
// each kind, and for each kind the field paths its entries set, so that
// two dumps of one program, by criugo and by CRIU, can be compared whatever
// the pids, addresses and inode numbers:
//
//	core-42.img  core_entry{tc{task_state: 1, ...}, thread_core{...}}
//	core-43.img  core_entry{tc{task_state: 1, ...}, thread_core{...}}
//	    └─► CORE: 2 files; core_entry.tc, core_entry.tc.task_state,
//	        core_entry.thread_core, ... (list elements merged)
//
// Dedup frees what an incremental dump made dead weight (CRIU's dedup):
// the pages a set holds again are punched out of the pages files of its
// parent sets, wherever the chain held them.
package imgtool
