package fault

import (
	"errors"
	"strings"
	"testing"
)

func TestAt(t *testing.T) {
	t.Setenv(Env, "dump:before-kill, restore:after-forks")
	reset()
	defer reset()
	if err := At("dump:before-kill"); !errors.Is(err, ErrInjected) || !strings.Contains(err.Error(), "dump:before-kill") {
		t.Errorf("At(dump:before-kill) = %v", err)
	}
	if err := At("restore:after-forks"); !errors.Is(err, ErrInjected) {
		t.Errorf("At(restore:after-forks) = %v", err)
	}
	if err := At("dump:after-attach"); err != nil {
		t.Errorf("At(dump:after-attach) = %v, want nil", err)
	}
	if err := Check(); err != nil {
		t.Error(err)
	}
}

func TestCheckUnknown(t *testing.T) {
	t.Setenv(Env, "dump:befor-kill")
	reset()
	defer reset()
	if err := Check(); err == nil || !strings.Contains(err.Error(), "dump:befor-kill") {
		t.Errorf("Check() = %v, want an error naming the misspelt point", err)
	}
}

func TestAtUnknownPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("At of an unknown point did not panic")
		}
	}()
	At("nowhere")
}
