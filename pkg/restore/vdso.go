package restore

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
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

// vdsoFunc is an entry point a vDSO exports: its offset from the start
// of the image and its size (0 when the symbol table does not say).
type vdsoFunc struct {
	name      string
	off, size uint64
}

// vdsoFuncs lists the functions a vDSO image exports, with offsets from
// the image's start (its load address is that of its first PT_LOAD
// segment, 0 for the kernel's vDSOs).
func vdsoFuncs(img []byte) ([]vdsoFunc, error) {
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("read vdso: %w", err)
	}
	var base uint64
	found := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			base = p.Vaddr - p.Off
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("read vdso: no PT_LOAD segment: %w", ErrBadImage)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("read vdso symbols: %w", err)
	}
	var out []vdsoFunc
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section == elf.SHN_UNDEF || s.Value < base {
			continue
		}
		off := s.Value - base
		if off >= uint64(len(img)) || s.Size > uint64(len(img))-off {
			return nil, fmt.Errorf("read vdso: %s at %#x+%d outside the %d-byte image: %w", s.Name, off, s.Size, len(img), ErrBadImage)
		}
		out = append(out, vdsoFunc{name: s.Name, off: off, size: s.Size})
	}
	return out, nil
}

// jumpLen is the length of the jump written over a proxied entry point:
//
//	48 b8 <imm64>   movabs $target, %rax
//	ff e0           jmp *%rax
//
// %rax holds nothing a vDSO function's caller passes in (no vDSO function
// takes variable arguments), so clobbering it before the jump is safe.
const jumpLen = 12

// jumpTo encodes the jump to target.
func jumpTo(target uint64) []byte {
	b := make([]byte, jumpLen)
	b[0], b[1] = 0x48, 0xb8
	binary.LittleEndian.PutUint64(b[2:], target)
	b[10], b[11] = 0xff, 0xe0
	return b
}

// vdsoPatch is one entry point of a dumped vDSO redirected to the host's.
type vdsoPatch struct {
	names  []string // the names (aliases) of the entry point
	off    uint64   // its offset in the dumped image
	target uint64   // the host function's address in the task
	orig   []byte   // the dumped bytes the jump replaces
}

// proxyPlan works out the jumps that turn a dumped vDSO into a proxy of
// the host's: every function the dumped one exports jumps to the host's
// function of the same name, found at hostBase in the task. It returns
// the dumped image with the jumps written in, the jumps, and the dumped
// entry points the host's vDSO does not export (left as they are: they
// run the dumped code, which finds no kernel data and falls back to
// system calls where it can).
func proxyPlan(dumped, host []byte, hostBase uint64) (patched []byte, patches []vdsoPatch, unmatched []string, err error) {
	df, err := vdsoFuncs(dumped)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dumped %w", err)
	}
	hf, err := vdsoFuncs(host)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("this kernel's %w", err)
	}
	hostAt := map[string]uint64{}
	for _, f := range hf {
		hostAt[f.name] = hostBase + f.off
	}
	// Aliases (clock_gettime, __vdso_clock_gettime) share an offset: one
	// jump each, to the host function of the first name the host has.
	byOff := map[uint64]*vdsoPatch{}
	var offs []uint64
	for _, f := range df {
		p := byOff[f.off]
		if p == nil {
			if f.size != 0 && f.size < jumpLen {
				return nil, nil, nil, fmt.Errorf("dumped vdso function %s is %d bytes, too short for a %d-byte jump: %w", f.name, f.size, jumpLen, ErrNotSupported)
			}
			if f.off+jumpLen > uint64(len(dumped)) {
				return nil, nil, nil, fmt.Errorf("dumped vdso function %s at %#x: no room for a jump: %w", f.name, f.off, ErrBadImage)
			}
			p = &vdsoPatch{off: f.off}
			byOff[f.off] = p
			offs = append(offs, f.off)
		}
		p.names = append(p.names, f.name)
		if t, ok := hostAt[f.name]; ok && p.target == 0 {
			p.target = t
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	for i := 1; i < len(offs); i++ {
		if offs[i]-offs[i-1] < jumpLen {
			return nil, nil, nil, fmt.Errorf("dumped vdso functions %s and %s are %d bytes apart, too close for a %d-byte jump: %w",
				byOff[offs[i-1]].names[0], byOff[offs[i]].names[0], offs[i]-offs[i-1], jumpLen, ErrNotSupported)
		}
	}
	patched = append([]byte(nil), dumped...)
	for _, off := range offs {
		p := byOff[off]
		if p.target == 0 {
			unmatched = append(unmatched, p.names...)
			continue
		}
		p.orig = append([]byte(nil), dumped[off:off+jumpLen]...)
		copy(patched[off:], jumpTo(p.target))
		patches = append(patches, *p)
	}
	return patched, patches, unmatched, nil
}
