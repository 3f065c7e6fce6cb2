package image

import "google.golang.org/protobuf/reflect/protoreflect"

// Kind describes one kind of image file: its CRIU magic name and number,
// the file names it is stored under and the protobuf messages it holds.
type Kind struct {
	// Name is CRIU's name for the magic ("CORE", "PAGEMAP", ...), as crit prints it.
	Name string
	// Magic is the kind's own magic number: the second u32 of the file header,
	// or the only one for inventory.img. Zero for raw kinds.
	Magic uint32
	// Message is the full name of the entry message ("criu.core_entry");
	// empty for raw images, which have no header and no entries.
	Message protoreflect.FullName
	// Head is the full name of a first entry of a different type
	// (pagemap_head for PAGEMAP, ghost_file_entry for GHOST_FILE), empty
	// for most kinds.
	Head protoreflect.FullName
	// Pattern is the file-name pattern, with %d standing for a decimal id or
	// pid ("core-%d.img"), %x for a hex id ("ghost-file-%x.img"), %s for a
	// word ("stats-%s"), or a fixed name ("inventory.img").
	Pattern string
	// Service is set for service files (stats, irmap-cache), whose header
	// starts with ImgServiceMagic instead of ImgCommonMagic.
	Service bool

	layout layout
}
