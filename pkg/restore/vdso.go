package restore

import (
	"bytes"
	"debug/elf"
)

// sameVdsoCode reports whether two images of the vDSO run the same code:
// every executable section has the same bytes at the same address, and
// the exported symbols are the same. Builds of one kernel version differ in
// their build-id note and the path strings in .dynstr, which no code reads;
// anything more and a thread returning into the dumped vDSO would run
// other code than it left.
func sameVdsoCode(saved, live []byte) bool {
	if bytes.Equal(saved, live) {
		return true
	}
	a, err := elf.NewFile(bytes.NewReader(saved))
	if err != nil {
		return false
	}
	b, err := elf.NewFile(bytes.NewReader(live))
	if err != nil {
		return false
	}
	code := func(f *elf.File) map[string]*elf.Section {
		m := map[string]*elf.Section{}
		for _, s := range f.Sections {
			if s.Flags&elf.SHF_EXECINSTR != 0 {
				m[s.Name] = s
			}
		}
		return m
	}
	ca, cb := code(a), code(b)
	if len(ca) != len(cb) || len(ca) == 0 {
		return false
	}
	for name, sa := range ca {
		sb, ok := cb[name]
		if !ok || sa.Addr != sb.Addr || sa.Size != sb.Size {
			return false
		}
		da, err1 := sa.Data()
		db, err2 := sb.Data()
		if err1 != nil || err2 != nil || !bytes.Equal(da, db) {
			return false
		}
	}
	syma, err1 := a.DynamicSymbols()
	symb, err2 := b.DynamicSymbols()
	if err1 != nil || err2 != nil || len(syma) != len(symb) {
		return false
	}
	for i := range syma {
		if syma[i].Name != symb[i].Name || syma[i].Value != symb[i].Value || syma[i].Size != symb[i].Size {
			return false
		}
	}
	return true
}
