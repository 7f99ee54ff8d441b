package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

func TestGossipCompressionSetting(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name string
		set  *bool
		want bool
	}{{"unset: off", nil, false}, {"true", &on, true}, {"false", &off, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("a")
			cfg.Gossip.Compression = tc.set
			if got := memberlistConfig(&cfg).EnableCompression; got != tc.want {
				t.Fatalf("EnableCompression = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestGossipCompressionMixedCluster: over real loopback sockets, an agent
// that compresses what it sends, one that does not and one on the default
// form one cluster, and writes from each reach the others by gossip
// packets and, for a value too big for a packet, by stream.
func TestGossipCompressionMixedCluster(t *testing.T) {
	on, off := true, false
	var agents []*Agent
	for _, n := range []struct {
		name string
		set  *bool
	}{{"zip", &on}, {"plain", &off}, {"default", nil}} {
		cfg := testConfig(n.name)
		cfg.Gossip.Compression = n.set
		agents = append(agents, startAgent(t, cfg))
	}
	joinAll(t, agents)
	ctx := context.Background()
	big := bytes.Repeat([]byte("compressible "), 400) // over the gossip budget: fetched by stream
	for _, a := range agents {
		for _, v := range [][]byte{[]byte("small"), big} {
			key := fmt.Sprintf("from/%s/%d", a.Name(), len(v))
			if _, err := a.Store().Put(ctx, key, v, 0); err != nil {
				t.Fatal(err)
			}
			for _, b := range agents {
				waitFor(t, patience, key+" on "+b.Name(), func() bool {
					r, err := b.Store().Get(key)
					return err == nil && bytes.Equal(r.Value, v)
				})
			}
		}
	}
}
