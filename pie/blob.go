package pie

import "bytes"

// Blob is a flat, position-independent code image.
type Blob struct {
	code []byte
	// Entry is the offset of the entry point.
	Entry uint64
	// Size is how many bytes the blob spans when loaded.
	Size uint64
}

// Code returns a copy of the image's bytes.
func (b Blob) Code() []byte { return bytes.Clone(b.code) }

// Parasite is the dump parasite, speaking the protocol of protocol.go.
var Parasite = Blob{code: parasiteBin, Entry: parasiteEntry, Size: parasiteSize}
