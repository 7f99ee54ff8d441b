// Package testutil holds helpers shared by Murmur's tests.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// LeakTimeout is how long VerifyTestMain waits for goroutines to end.
// memberlist's goroutines exit asynchronously after Shutdown, up to 9×
// ProbeInterval later when its health score is degraded (as after a
// partition): longer than goleak's own half-second of retries.
const LeakTimeout = 20 * time.Second

// VerifyTestMain runs the tests, then fails the binary if goroutines are
// still running after LeakTimeout.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		if err := FindLeaks(LeakTimeout, opts...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// FindLeaks polls goleak.Find until no unexpected goroutine is left or
// timeout passes, and returns the last finding.
func FindLeaks(timeout time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(timeout)
	for {
		err := goleak.Find(opts...) // retries with backoff for ~0.5s itself
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// WaitFor polls cond every 10ms until it is true, failing t after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Poll(t, timeout, 10*time.Millisecond, what, cond)
}

// Poll checks cond every interval until it is true, failing t after
// timeout. The sleep is the polling period of a deadline-bounded wait.
func Poll(t testing.TB, timeout, interval time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}

// RequireToolsEnv, when set to 1 (as .ci/run does), turns a missing
// external program into a test failure: in CI a real-client test must
// never skip silently.
const RequireToolsEnv = "MURMUR_REQUIRE_TOOLS"

// NeedTool returns the path of the external program name. When it is not
// installed the test is skipped with how to install it, or failed when
// RequireToolsEnv is set.
func NeedTool(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(RequireToolsEnv) == "1" {
		t.Fatalf("%s not found but %s=1: %s (.ci/run installs it)", name, RequireToolsEnv, install)
	}
	t.Skipf("%s not installed (%s); .ci/run installs it", name, install)
	return ""
}
