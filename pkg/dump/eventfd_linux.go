package dump

import (
	"fmt"

	"github.com/criugo/criugo/images"
)

// eventfd records an eventfd: its counter, as fdinfo shows it, and its
// file flags. CRIU's image has no place for EFD_SEMAPHORE, which the
// kernel keeps apart from the file flags: a semaphore eventfd would come
// back counting as a plain one, so it is refused.
func (d *dumper) eventfd(f *fdFile, id, flags uint32, fown *images.FownEntry) error {
	ev := f.info.Eventfd
	if ev == nil {
		return fmt.Errorf("eventfd without eventfd-count in fdinfo: %w", ErrKernel)
	}
	if ev.Semaphore {
		return fmt.Errorf("eventfd with EFD_SEMAPHORE (the image cannot say so): %w", ErrNotSupported)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_EVENTFD.Enum(), Id: ptr(id), Efd: &images.EventfdFileEntry{
		Id: ptr(id), Flags: ptr(flags), Fown: fown, Counter: ptr(ev.Count),
	}})
	return nil
}
