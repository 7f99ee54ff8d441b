package agent

import (
	"context"
	"testing"
	"time"
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
	allSee(t, agents[:2], "c", StatusLeft, 10*time.Second)

	if err := agents[1].Shutdown(); err != nil { // no leave: a crash
		t.Fatal(err)
	}
	allSee(t, agents[:1], "b", StatusFailed, 10*time.Second)
}
