package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// CRIUEnv names an environment variable that, when set, says where CRIU's
// own criu binary is, for the tests that check against it.
const CRIUEnv = "CRIUGO_CRIU"

// CRIU returns the path of CRIU's criu binary, the interoperability
// oracle: $CRIUGO_CRIU, else build/criu-4.2.1/criu in the repository.
// When there is none the test is skipped with a message saying where it
// looked.
func CRIU(t testing.TB) string {
	t.Helper()
	var tried []string
	if p := os.Getenv(CRIUEnv); p != "" {
		tried = append(tried, p)
	}
	if root, ok := RepoRoot(); ok {
		tried = append(tried, filepath.Join(root, "build", "criu-4.2.1", "criu"))
	}
	for _, p := range tried {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Skipf("CRIU's criu binary not found (looked at %v; set %s)", tried, CRIUEnv)
	return ""
}
