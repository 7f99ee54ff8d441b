package configsync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAntiEntropy measures the bytes one push/pull exchange and the
// sync it triggers put on the wire (both directions, all messages).
//
//	go test -run='^$' -bench=AntiEntropy ./configsync/
func BenchmarkAntiEntropy(b *testing.B) {
	for _, n := range []int{0, 1000, 100000} {
		b.Run(fmt.Sprintf("in-sync/keys=%d", n), func(b *testing.B) {
			x, y := newState(b, "a"), newState(b, "b")
			fill(b, n, x, y)
			var total int
			for b.Loop() {
				t, _ := exchange(b, x, y, 1_700_000_001_000)
				total += t
			}
			b.ReportMetric(float64(total)/float64(b.N), "bytes/exchange")
		})
	}
	b.Run("diverged-1pct/keys=100000", func(b *testing.B) {
		const n, diverged = 100000, 1000
		x, y := newState(b, "a"), newState(b, "b")
		fill(b, n, x, y)
		rng := rand.New(rand.NewPCG(1, 1))
		now := int64(1_700_000_010_000)
		var total, entryBytes, msgs int
		for b.Loop() {
			b.StopTimer()
			// 1% of the keys change, half on each side, scattered.
			var changed []Entry
			for i, k := range rng.Perm(n)[:diverged] {
				s := x
				if i%2 == 1 {
					s = y
				}
				r, err := s.Put(fmt.Sprintf("config/service-%06d/setting", k), []byte(fmt.Sprintf("changed-%d-%032d", now, k)), 0, now)
				if err != nil {
					b.Fatal(err)
				}
				changed = append(changed, r.Entry)
			}
			entryBytes += len(Encode(&SyncEntries{From: "a", Entries: changed}))
			now += 1000
			b.StartTimer()
			t, kinds := exchange(b, x, y, now)
			total += t
			msgs += len(kinds)
			if x.Root() != y.Root() {
				// A truncated-hash collision hid a leaf: the next
				// exchange finds it.
				t, _ = exchange(b, x, y, now+1)
				total += t
			}
		}
		b.ReportMetric(float64(total)/float64(b.N), "bytes/exchange")
		b.ReportMetric(float64(entryBytes)/float64(b.N), "diverged-entry-bytes")
		b.ReportMetric(float64(total)/float64(entryBytes), "ratio")
	})
}

// BenchmarkPut measures durable (fsynced) local writes on bbolt.
//
//	go test -run='^$' -bench=Put ./configsync/
func BenchmarkPut(b *testing.B) {
	open := func(b *testing.B) *Store {
		s, err := Open(Config{Node: "n", DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	value := make([]byte, 128)
	b.Run("sequential", func(b *testing.B) {
		s := open(b)
		i := 0
		for b.Loop() {
			if _, err := s.Put(context.Background(), fmt.Sprintf("k%d", i), value, 0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("concurrent-16", func(b *testing.B) {
		s := open(b)
		var i atomic.Int64
		b.SetParallelism(max(1, 16/runtimeProcs())) // 16 writers
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Put(context.Background(), fmt.Sprintf("k%d", i.Add(1)), value, 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// BenchmarkRecordChecksum is the CPU a checksummed record costs on the
// write path (encoding with CRC-32C, and the CRC alone), against which a
// durable put's fsync (about 1.5 ms) is measured in BENCHMARKS.md.
//
//	go test -run='^$' -bench=RecordChecksum ./configsync/
func BenchmarkRecordChecksum(b *testing.B) {
	e := Entry{Key: "bench/w/c16/07/0001234", Value: make([]byte, 128), Version: Version{Wall: 1_700_000_000_000, Logical: 3, Node: "write"}}
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			encodeRecord(&e)
		}
	})
	b.Run("crc-only", func(b *testing.B) {
		body := encodeRecord(&e)
		for b.Loop() {
			recordCRC(e.Key, body)
		}
	})
	b.Run("decode-verify", func(b *testing.B) {
		rec := encodeRecord(&e)
		for b.Loop() {
			if _, err := decodeRecord([]byte(e.Key), rec, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReceiveUpdate is the store's own work for one change received
// from a peer (decode, step, notify, queue the relay) at 10 000 keys:
// what the DNS agent of BENCHMARKS.md §11 spends in configsync per copy
// of a health change, the group commit aside (it runs later, for many
// changes at once).
//
//	go test -run '^$' -bench ReceiveUpdate -benchmem ./configsync/
func BenchmarkReceiveUpdate(b *testing.B) {
	for _, where := range []string{"memory", "bbolt"} {
		b.Run(where, func(b *testing.B) {
			cfg := Config{Node: "n"}
			if where == "bbolt" {
				cfg.DataDir = b.TempDir()
			}
			s, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			base := time.Now().UnixMilli() - 10_000
			value := make([]byte, 300)
			for i := 0; i < 10_000; i += 100 {
				var es []Entry
				for j := i; j < i+100; j++ {
					es = append(es, Entry{Key: fmt.Sprintf("svc/n%d/s%05d", j%5, j), Value: value, Version: Version{Wall: base, Node: "p"}})
				}
				s.process(Encode(&Update{From: "p", Entries: es}))
			}
			sub := s.SubscribeKeys("svc/") // as the catalog does
			defer sub.Close()
			i := int64(0)
			for b.Loop() {
				i++
				s.process(Encode(&Update{From: "p", Entries: []Entry{{Key: "svc/n1/flap", Value: value, Version: Version{Wall: base + i, Node: "p"}}}}))
			}
		})
	}
}
