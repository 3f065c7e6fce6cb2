package restore

import (
	"fmt"
	"strconv"
)

// Personality flags and personas the kernel knows (uapi/linux/personality.h).
const (
	personaMask   = 0x000000ff
	personaMax    = 0x10       // PER_HPUX, the highest persona number
	personaFlags  = 0x0ffe0000 // UNAME26 ... ADDR_LIMIT_3GB
	personalityOK = personaMask | personaFlags
)

// validPersonality tells whether p is a personality the kernel could have
// reported: known flags and a known persona.
func validPersonality(p uint64) bool {
	return p&^personalityOK == 0 && p&personaMask <= personaMax
}

// imagePersonality gives the personality to restore for the value a core
// image holds. CRIU 4.2 reads /proc/PID/personality, which is hex, with
// atoi, so its images hold the decimal number spelled by the hex digits
// (ADDR_NO_RANDOMIZE, 0x40000, is written as 40000). Such a value has bits
// no personality has; reading its decimal digits as hex gives back the
// real one. Our images hold the real value, which is valid as it is.
func imagePersonality(v uint32) (p uint64, criuSpelling bool, err error) {
	if validPersonality(uint64(v)) {
		return uint64(v), false, nil
	}
	if q, perr := strconv.ParseUint(strconv.FormatUint(uint64(v), 10), 16, 32); perr == nil && validPersonality(q) {
		return q, true, nil
	}
	return 0, false, fmt.Errorf("personality %#x is not one the kernel knows: %w", v, ErrBadImage)
}
