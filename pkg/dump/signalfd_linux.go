package dump

import (
	"fmt"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

func init() {
	registerFdKind(images.FdTypes_SIGNALFD, &fdKind{link: proc.LinkAnonInode, anon: "signalfd",
		dump: func(d *dumper, x *fdDump) error { return d.signalfd(x.f, x.id, x.flags, x.fown) }})
}

// signalfd records a signalfd: the signals it accepts (fdinfo's sigmask,
// bit n-1 for signal n) and its file flags.
func (d *dumper) signalfd(f *fdFile, id, flags uint32, fown *images.FownEntry) error {
	sf := f.info.Signalfd
	if sf == nil {
		return fmt.Errorf("signalfd without sigmask in fdinfo: %w", ErrKernel)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_SIGNALFD.Enum(), Id: ptr(id), Sgfd: &images.SignalfdEntry{
		Id: ptr(id), Flags: ptr(flags), Fown: fown, Sigmask: ptr(sf.Sigmask),
	}})
	return nil
}
