package agent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/murmurhq/murmur/internal/testutil"
)

// TestLoopbackCluster runs real UDP/TCP memberlist on 127.0.0.1: join,
// graceful leave seen as left, crash seen as failed.
func TestLoopbackCluster(t *testing.T) {
	var agents []*Agent
	for _, n := range []string{"a", "b", "c"} {
		agents = append(agents, startAgent(t, testConfig(n)))
	}
	joinAll(t, agents)

	if err := agents[2].Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := agents[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	allSee(t, agents[:2], "c", StatusLeft, patience)

	if err := agents[1].Shutdown(); err != nil { // no leave: a crash
		t.Fatal(err)
	}
	allSee(t, agents[:1], "b", StatusFailed, patience)
}

// TestJoinPartlyFailed: of two addresses one answers; Join reports n = 1
// and an error naming the other, one unwrappable error per address.
func TestJoinPartlyFailed(t *testing.T) {
	a := startAgent(t, testConfig("a"))
	b := startAgent(t, testConfig("b"))
	refused := testutil.RefusedAddr(t)
	n, err := b.Join(context.Background(), []string{addr(a), refused})
	if n != 1 {
		t.Fatalf("Join = %d, %v; want 1 joined", n, err)
	}
	if err == nil || !strings.Contains(err.Error(), refused) || strings.Contains(err.Error(), addr(a)) {
		t.Fatalf("error %v: want it to name %s only", err, refused)
	}
	var multi interface{ Unwrap() []error }
	if !errors.As(err, &multi) || len(multi.Unwrap()) != 1 {
		t.Fatalf("error %v: want one error per failed address", err)
	}
	allSee(t, []*Agent{a, b}, "b", StatusAlive, patience)
}
