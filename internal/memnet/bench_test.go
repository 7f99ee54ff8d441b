package memnet

import (
	"io"
	"testing"
	"time"
)

// BenchmarkPacket measures one 1,400-byte packet sent and received.
func BenchmarkPacket(b *testing.B) {
	nw := New(1)
	src := mustTransport(b, nw, "a")
	dst := mustTransport(b, nw, "b")
	buf := make([]byte, 1400)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.WriteTo(buf, dst.Addr()); err != nil {
			b.Fatal(err)
		}
		<-dst.PacketCh()
	}
}

// BenchmarkPacketFaults is BenchmarkPacket with loss, a partition and
// blocks configured, none of which cut the a→b link.
func BenchmarkPacketFaults(b *testing.B) {
	nw := New(1)
	src := mustTransport(b, nw, "a")
	dst := mustTransport(b, nw, "b")
	if err := nw.Partition([]string{"a", "b"}, []string{"c"}); err != nil {
		b.Fatal(err)
	}
	if err := nw.Block("a", "d"); err != nil {
		b.Fatal(err)
	}
	if err := nw.SetLoss("b", "a", 0.5); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1400)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.WriteTo(buf, dst.Addr()); err != nil {
			b.Fatal(err)
		}
		<-dst.PacketCh()
	}
}

// BenchmarkStream measures stream throughput in 32 KiB writes.
func BenchmarkStream(b *testing.B) {
	nw := New(1)
	src := mustTransport(b, nw, "a")
	dst := mustTransport(b, nw, "b")
	c, err := src.DialTimeout(dst.Addr(), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	peer := <-dst.StreamCh()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, peer)
		close(done)
	}()
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	_ = c.Close()
	<-done
	_ = peer.Close()
}

// BenchmarkDial measures opening, accepting and closing a stream.
func BenchmarkDial(b *testing.B) {
	nw := New(1)
	src := mustTransport(b, nw, "a")
	dst := mustTransport(b, nw, "b")
	b.ReportAllocs()
	for b.Loop() {
		c, err := src.DialTimeout(dst.Addr(), time.Second)
		if err != nil {
			b.Fatal(err)
		}
		_ = (<-dst.StreamCh()).Close()
		_ = c.Close()
	}
}
