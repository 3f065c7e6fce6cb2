// Package ttyimg holds what the dump and the restore of terminals share:
// how CRIU 4.2 names a terminal in its images and how it stores termios.
//
// # Names
//
// A terminal is a tty_info_entry in tty-info.img, named by an id that is
// not a counter but the pty index and the side:
//
//	tty_info_id = index<<1 | 1   the master (/dev/ptmx) of /dev/pts/<index>
//	tty_info_id = index<<1       the slave, /dev/pts/<index>
//
// Other terminals (the console, /dev/tty, virtual consoles, serial lines)
// have fixed pseudo indices above MaxPtyIndex. Every open file of a
// terminal is a tty_file_entry in files.img pointing to it, plus a
// reg_file_entry (regf_id) with the path it was opened by.
//
// # termios
//
// CRIU copies glibc's struct termios into termios_entry: c_cc, 32 bytes
// in glibc, is memcpy'd into the start of 19 repeated uint32 (so 4 control
// characters per word, little-endian, the first 19 bytes being the
// kernel's c_cc) and the rest of the 19 words is whatever was in CRIU's
// heap; c_ispeed and c_ospeed are left 0. The kernel's TCGETS fills 19
// control characters; this package packs them the same way, with zeros
// after them.
package ttyimg
