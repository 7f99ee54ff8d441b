package client_test

import (
	"context"
	"testing"
)

// BenchmarkKVGetLoopback is one KVGet round trip over loopback HTTP to the
// real handler with the in-memory fake backend.
func BenchmarkKVGetLoopback(b *testing.B) {
	c, be := newAgent(b)
	if _, err := be.Put(context.Background(), "app/config", make([]byte, 1024), 0); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.KVGet(ctx, "app/config"); err != nil {
			b.Fatal(err)
		}
	}
}
