package dump

import (
	"fmt"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

func init() {
	registerFdKind(images.FdTypes_EVENTFD, &fdKind{link: proc.LinkAnonInode, anon: "eventfd", dump: (*dumper).eventfd})
}

// eventfd records an eventfd: its counter, as fdinfo shows it, and its
// file flags. CRIU's image has no place for EFD_SEMAPHORE, which the
// kernel keeps apart from the file flags: a semaphore eventfd would come
// back counting as a plain one, so it is refused.
func (d *dumper) eventfd(x *fdDump) error {
	ev := x.f.info.Eventfd
	if ev == nil {
		return fmt.Errorf("eventfd without eventfd-count in fdinfo: %w", ErrKernel)
	}
	if ev.Semaphore {
		return fmt.Errorf("eventfd with EFD_SEMAPHORE (the image cannot say so): %w", ErrNotSupported)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_EVENTFD.Enum(), Id: ptr(x.id), Efd: &images.EventfdFileEntry{
		Id: ptr(x.id), Flags: ptr(x.flags), Fown: x.fown, Counter: ptr(ev.Count),
	}})
	return nil
}
