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
