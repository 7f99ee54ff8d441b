package udptransport

import (
	"bytes"
	"net"
	"strconv"
	"testing"

	"github.com/hashicorp/memberlist"
)

// BenchmarkReceive: one 1400-byte gossip packet sent and received over
// loopback, through this transport and through memberlist's
// NetTransport (which allocates 64 KiB per packet read); B/op is the
// figure.
//
//	go test -run '^$' -bench Receive -benchmem ./internal/udptransport/
func BenchmarkReceive(b *testing.B) {
	for _, tc := range []struct {
		name string
		new  func(b *testing.B) (memberlist.NodeAwareTransport, int)
	}{
		{"udptransport", func(b *testing.B) (memberlist.NodeAwareTransport, int) {
			t, err := New(Config{BindAddr: "127.0.0.1"})
			if err != nil {
				b.Fatal(err)
			}
			return t, t.GetAutoBindPort()
		}},
		{"memberlist.NetTransport", func(b *testing.B) (memberlist.NodeAwareTransport, int) {
			t, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}})
			if err != nil {
				b.Fatal(err)
			}
			return t, t.GetAutoBindPort()
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rx, port := tc.new(b)
			defer rx.Shutdown()
			tx, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Close()
			msg := bytes.Repeat([]byte("g"), 1400)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tx.Write(msg); err != nil {
					b.Fatal(err)
				}
				if p := <-rx.PacketCh(); len(p.Buf) != len(msg) {
					b.Fatalf("%d bytes", len(p.Buf))
				}
			}
		})
	}
}
