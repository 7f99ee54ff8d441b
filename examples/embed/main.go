// Command embed shows how a Go program embeds a Murmur agent: it starts an
// in-memory agent on loopback, optionally joins a cluster, and prints
// membership events until interrupted.
//
//	go run ./examples/embed -join 127.0.0.1:7946
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/murmurhq/murmur/agent"
)

func main() {
	join := flag.String("join", "", "ADDR:PORT of an agent to join")
	name := flag.String("node", "embedded", "node name")
	bind := flag.String("bind", "127.0.0.1:0", "gossip ADDR:PORT")
	flag.Parse()

	cfg := agent.DevConfig() // in memory, loopback, fast local gossip
	cfg.NodeName = *name
	cfg.BindAddr = *bind
	cfg.HTTP.Addr = "" // this program needs no HTTP API, Consul API or DNS
	cfg.ConsulAPI.Addr = ""
	cfg.DNS.Addr = ""
	if *join != "" {
		cfg.Join = []string{*join} // retried in the background
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := agent.New(cfg, agent.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sub := a.Subscribe(64)
	if err := a.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for {
		select {
		case ev := <-sub.C():
			fmt.Printf("%s %-8s %s\n", time.Now().Format(time.TimeOnly), ev.Type, ev.Member.Name)
		case <-ctx.Done():
			// A second Ctrl-C kills the program at once; the first one
			// leaves gracefully, at most for a second (an agent alone has
			// nobody to tell and leaves at once).
			stop()
			leaveCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = a.Leave(leaveCtx)
			cancel()
			_ = a.Shutdown()
			return
		}
	}
}
