package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/murmurhq/murmur/agent"
	"github.com/murmurhq/murmur/agent/client"
)

// profileDNS answers "where does the time go" for figure 1: it runs the
// same agent configuration in this process (the agent package, as agentd
// does), puts the same dnsperf load on it under the CPU profiler, and
// prints the top functions. The profile is kept in the work directory.
func (e *env) profileDNS(ctx context.Context, dnsperf, queries string, flags []string) error {
	cfg := agent.DefaultConfig()
	cfg.NodeName = "dns"
	cfg.Dev = true
	cfg.BindAddr = "127.0.0.1:0" // ports the kernel picks, read back after Start
	cfg.HTTP.Addr = ""
	cfg.DNS.Addr = "127.0.0.1:0"
	for s := range dnsServices {
		for i := 1; i <= dnsInstances; i++ {
			cfg.Services = append(cfg.Services, client.ServiceDefinition{
				Name: fmt.Sprintf("svc%02d", s), ID: fmt.Sprintf("svc%02d-%d", s, i),
				Address: fmt.Sprintf("10.0.%d.%d", s, i), Port: 8000 + i,
			})
		}
	}
	a, err := agent.New(cfg, agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		return err
	}
	defer a.Shutdown()
	dnsAddr := a.DNSAddr()
	if _, err := waitAnswers(ctx, dnsAddr, dnsQueries()); err != nil {
		return err
	}
	prev := runtime.GOMAXPROCS(e.gomaxprocs)
	defer runtime.GOMAXPROCS(prev)
	path := filepath.Join(e.dir, "dns-cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile() // no-op once dnsperf's exit has stopped it
	pr, err := e.dnsperf(ctx, dnsperf, dnsAddr, queries, flags, pprof.StopCPUProfile)
	if err != nil {
		return err
	}
	e.logf("profiled in-process agent: %.0f q/s (GOMAXPROCS=%d); profile %s", pr.QPS, e.gomaxprocs, path)
	for _, extra := range [][]string{{"-top"}, {"-top", "-cum"}} {
		args := append([]string{"tool", "pprof", "-nodecount", "30"}, extra...)
		out, err := exec.CommandContext(ctx, "go", append(args, path)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof: %v\n%s", err, out)
		}
		e.logf("go %s %s\n%s", strings.Join(args, " "), path, out)
	}
	e.rec.add(Result{Figure: "1", Name: "dns.profile.qps_in_process", Value: pr.QPS, Unit: "q/s",
		Command: "go run ./test/bench -only dns -profile -keep  # then: go tool pprof -top WORKDIR/dns-cpu.pprof",
		Note:    "the agent in the runner's process under the CPU profiler; the top functions are printed in the log"})
	return nil
}

// profileMem answers "where does the memory go" for figure 4: it runs an
// agent in this process with a data dir, writes keys of memValueBytes
// through its store (what PUT /v1/kv does after reading the body), forces
// a GC and prints the top in-use allocation sites of a heap profile.
func (e *env) profileMem(ctx context.Context, keys int) error {
	cfg := agent.DefaultConfig()
	cfg.NodeName = "mem"
	cfg.BindAddr = "127.0.0.1:0"
	cfg.HTTP.Addr = ""
	cfg.DNS.Addr = ""
	cfg.DataDir = filepath.Join(e.dir, "data", "mem-profile")
	a, err := agent.New(cfg, agent.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		return err
	}
	defer a.Shutdown()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	value := make([]byte, memValueBytes)
	const workers = 16
	errc := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < keys; i += workers {
				if _, err := a.Store().Put(ctx, fmt.Sprintf("bench/mem/%07d", i), value, 0); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range workers {
		if err := <-errc; err != nil {
			return err
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	live := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	path := filepath.Join(e.dir, "mem-heap.pprof")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pprof.WriteHeapProfile(f)
	f.Close()
	if err != nil {
		return err
	}
	args := []string{"tool", "pprof", "-sample_index=inuse_space", "-nodecount", "20", "-top", path}
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %v\n%s", err, out)
	}
	e.logf("in-process agent, %d keys of %d B: live heap %.1f MiB (%.0f B per key)\ngo %s\n%s",
		keys, memValueBytes, live/(1<<20), live/float64(keys), strings.Join(args, " "), out)
	e.rec.add(Result{Figure: "4", Name: fmt.Sprintf("mem.profile.live_heap_per_key.keys=%d", keys), Value: live / float64(keys), Unit: "B",
		Command: "go run ./test/bench -only mem -profile -keep  # then: go tool pprof -sample_index=inuse_space -top WORKDIR/mem-heap.pprof",
		Note:    fmt.Sprintf("agent in the runner's process, single node, data dir, values of %d B written through Store.Put, after runtime.GC", memValueBytes)})
	return nil
}
