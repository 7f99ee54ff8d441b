package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.VerifyTestMain(m)
}

func TestLifecycleAnyOrder(t *testing.T) {
	ctx := context.Background()
	t.Run("shutdown before start", func(t *testing.T) {
		a, err := New(testConfig("x"), WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Shutdown(); err != nil {
			t.Fatal(err)
		}
		if err := a.Shutdown(); err != nil {
			t.Fatal("second shutdown:", err)
		}
		if err := a.Start(); !errors.Is(err, ErrShutdown) {
			t.Fatalf("Start after Shutdown = %v, want ErrShutdown", err)
		}
		if err := a.Leave(ctx); !errors.Is(err, ErrShutdown) {
			t.Fatalf("Leave after Shutdown = %v, want ErrShutdown", err)
		}
	})
	t.Run("leave and join before start", func(t *testing.T) {
		a, err := New(testConfig("x"), WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Shutdown()
		if err := a.Leave(ctx); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("Leave before Start = %v", err)
		}
		if _, err := a.Join(ctx, []string{"127.0.0.1:1"}); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("Join before Start = %v", err)
		}
	})
	t.Run("start twice, leave twice, shutdown twice", func(t *testing.T) {
		a := startAgent(t, testConfig("x"))
		if err := a.Start(); !errors.Is(err, ErrStarted) {
			t.Fatalf("second Start = %v", err)
		}
		if err := a.Leave(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Leave(ctx); err != nil {
			t.Fatal("second Leave:", err)
		}
		if _, err := a.Join(ctx, []string{"127.0.0.1:1"}); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("Join after Leave = %v", err)
		}
		for i := 0; i < 2; i++ {
			if err := a.Shutdown(); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-a.Done():
		default:
			t.Fatal("Done not closed after Shutdown")
		}
		if err := a.Leave(ctx); !errors.Is(err, ErrShutdown) {
			t.Fatalf("Leave after Shutdown = %v", err)
		}
	})
	t.Run("concurrent shutdowns", func(t *testing.T) {
		a := startAgent(t, testConfig("x"))
		errs := make(chan error, 4)
		for i := 0; i < 4; i++ {
			go func() { errs <- a.Shutdown() }()
		}
		for i := 0; i < 4; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestStartBindError(t *testing.T) {
	a := startAgent(t, testConfig("first"))
	c := testConfig("second")
	c.BindAddr = addr(a)
	b, err := New(c, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	if err := b.Start(); err == nil {
		t.Fatal("second agent bound the same port")
	}
}

// TestLeaveAloneIsImmediate: an agent with no other member has nobody to
// tell, so Leave does not wait for its leave to spread (with a one-hour
// gossip interval that wait would be five hours; the context bound here
// is only against a hang).
func TestLeaveAloneIsImmediate(t *testing.T) {
	c := testConfig("alone")
	hour := client.Duration(time.Hour)
	c.Gossip.GossipInterval = &hour
	c.LeaveTimeout = client.Duration(10 * time.Hour)
	a := startAgent(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Leave of a lone agent waited for propagation")
	}
}
