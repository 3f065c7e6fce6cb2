package uffd

import "testing"

// TestIoctlNumbers pins the request numbers to the values
// <linux/userfaultfd.h> gives them on x86_64.
func TestIoctlNumbers(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"UFFDIO_API", ioctlAPI, 0xc018aa3f},
		{"UFFDIO_REGISTER", ioctlRegister, 0xc020aa00},
		{"UFFDIO_UNREGISTER", ioctlUnregister, 0x8010aa01},
		{"UFFDIO_COPY", ioctlCopy, 0xc028aa03},
		{"UFFDIO_WRITEPROTECT", ioctlWriteprotect, 0xc018aa06},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}
