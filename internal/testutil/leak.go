// Package testutil holds helpers shared by Murmur's tests.
package testutil

import (
	"fmt"
	"os"
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
