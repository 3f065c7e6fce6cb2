package fault

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// Env is the environment variable that names the points to fail at.
const Env = "CRIUGO_FAULT"

// ErrInjected is what a stage fails with at a point named in Env.
var ErrInjected = errors.New("injected fault")

// Points are the names At knows, in the order a dump and a restore pass
// them.
var Points = []string{
	"seize:after-freeze",
	"dump:after-attach",
	"dump:mid-pages",
	"dump:before-kill",
	"restore:after-forks",
	"restore:after-memory",
	"restore:after-files",
	"restore:before-release",
}

var (
	once   sync.Once
	active map[string]bool
)

func load() {
	active = map[string]bool{}
	for _, p := range strings.Split(os.Getenv(Env), ",") {
		if p = strings.TrimSpace(p); p != "" {
			active[p] = true
		}
	}
}

// At returns an error wrapping ErrInjected when point is named in Env,
// and nil otherwise. A point At does not know is a programming error.
func At(point string) error {
	once.Do(load)
	if !known(point) {
		panic("fault: unknown point " + point)
	}
	if active[point] {
		return fmt.Errorf("fail at %s (%s): %w", point, Env, ErrInjected)
	}
	return nil
}

// Check returns an error naming the points in Env that At does not know,
// so that a misspelt point is not silently never reached.
func Check() error {
	once.Do(load)
	var bad []string
	for p := range active {
		if !known(p) {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s names unknown points %s (known: %s)", Env, strings.Join(bad, ", "), strings.Join(Points, ", "))
	}
	return nil
}

func known(p string) bool {
	for _, k := range Points {
		if k == p {
			return true
		}
	}
	return false
}

// reset rereads Env (tests).
func reset() { once = sync.Once{} }
