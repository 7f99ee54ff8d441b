// Command flapper is the health-check source of the benchmark runner's
// catalog figure (test/bench): it flips one TTL check between passing and
// critical at a fixed interval through an agent's HTTP API, as a service
// on another machine would, until it is stopped.
//
//	flapper -addr 127.0.0.1:8500 -check flap -every 100ms
//
// It runs as its own process so that the runner can give it the place of
// the other machines (their CPU, at the idle scheduling policy) instead
// of the runner's, which is free to run on the DNS agent's CPU. On SIGINT
// or SIGTERM it prints "flaps N" (the health changes the agent accepted)
// on stdout and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

// requestTimeout bounds one health change.
const requestTimeout = 10 * time.Second

func main() {
	addr := flag.String("addr", "", "HTTP API address of the agent that owns the check")
	check := flag.String("check", "flap", "TTL check (service) id")
	every := flag.Duration("every", 100*time.Millisecond, "interval between health changes")
	flag.Parse()
	if *addr == "" || *every <= 0 {
		fmt.Fprintln(os.Stderr, "flapper: -addr and a positive -every are required")
		os.Exit(2)
	}
	c, err := client.New(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flapper:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Printf("flaps %d\n", flap(ctx, c, *check, *every))
}

// flap alternates the check between passing and critical every interval
// until ctx ends, and returns how many changes the agent accepted. A
// change in flight when ctx ends is seen through (each is bounded by
// requestTimeout), so that the count is the agent's.
func flap(ctx context.Context, c *client.Client, check string, every time.Duration) uint64 {
	t := time.NewTicker(every)
	defer t.Stop()
	var n uint64
	for {
		select {
		case <-ctx.Done():
			return n
		case <-t.C:
		}
		h := client.HealthPassing
		if n%2 == 1 {
			h = client.HealthCritical
		}
		rctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		err := c.UpdateTTL(rctx, check, h, "")
		cancel()
		if err == nil {
			n++
		}
	}
}
