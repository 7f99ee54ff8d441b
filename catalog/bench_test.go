package catalog

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// BenchmarkRegister measures registrations through the whole path: the
// durable store write (bbolt, fsync), the services file (fsync, rename,
// fsync dir) and the wait until the catalog shows the instance. Clients
// run in parallel, as the HTTP API serves them, so writes are grouped.
//
//	go test -run '^$' -bench Register -benchtime 2000x ./catalog/
func BenchmarkRegister(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			dir := b.TempDir()
			s := openStore(b, "self", dir)
			c := start(b, Config{Node: "self", DataDir: dir, Store: s, Members: newMembers("self"), Logger: quiet()})
			var n atomic.Int64
			b.SetParallelism(max(clients/runtimeProcs(), 1))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if err := c.Register(Definition{Name: "web", ID: fmt.Sprintf("w%d", i), Port: 1}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
		})
	}
}

// BenchmarkHealthChange: one instance's health change at 10,000 instances
// (1,000 services of 10), from the store write to the published snapshot
// (the DNS zone compile, done by the agent's OnSnapshot hook, is not
// included). B/op is what each change gives the garbage collector.
//
//	go test -run '^$' -bench HealthChange -benchmem ./catalog/
func BenchmarkHealthChange(b *testing.B) {
	s := openStore(b, "self", "")
	c := start(b, Config{Node: "self", Store: s, Members: newMembers("self", "n1", "n2"), Logger: quiet()})
	for i := range 10000 {
		putRecord(b, s, fmt.Sprintf("n%d", 1+i%2), Definition{Name: fmt.Sprintf("svc%04d", i/10), ID: fmt.Sprintf("i%d", i), Port: 80}, HealthPassing)
	}
	waitFor(b, wait, "10000 instances", func() bool { return c.Snapshot().Len() == 10000 })
	def := Definition{Name: "svc0007", ID: "i71", Port: 80}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h := HealthPassing
		if i%2 == 0 {
			h = HealthCritical
		}
		seq := c.Snapshot().Seq()
		putRecord(b, s, "n2", def, h)
		for c.Snapshot().Seq() == seq {
			runtime.Gosched()
		}
	}
}
