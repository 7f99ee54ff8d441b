package agent_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/murmurhq/murmur/agent"
	"github.com/murmurhq/murmur/internal/testutil"
)

// BenchmarkPutPath is figure 5's put (PUT /v1/kv of 128 B, answered after
// fsync) in one process: one agent, one keep-alive client connection over
// loopback. "durable" has a data dir (each put fsynced), "memory" none
// (the request path alone). allocs/op and the CPU split (user-ns/op: Go
// code, client included; sys-ns/op: mostly the kernel's fsync) are steadier
// than wall time on a shared machine; compare two commits with alternating
// -count runs of each test binary.
//
//	go test -run '^$' -bench BenchmarkPutPath -count 5 ./agent/
func BenchmarkPutPath(b *testing.B) {
	for _, durable := range []bool{false, true} {
		name := "memory"
		if durable {
			name = "durable"
		}
		b.Run(name, func(b *testing.B) {
			cfg := agent.DefaultConfig()
			cfg.NodeName = "bench"
			cfg.BindAddr = "127.0.0.1:0"
			cfg.HTTP.Addr = "127.0.0.1:0"
			cfg.DNS.Addr = ""
			if durable {
				cfg.DataDir = b.TempDir()
			} else {
				cfg.Dev = true
			}
			a, err := agent.New(cfg, agent.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			if err := a.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { a.Shutdown() })
			c := &http.Client{}
			value := make([]byte, 128)
			put := func(i int) {
				req, _ := http.NewRequest("PUT", fmt.Sprintf("http://%s/v1/kv/bench/w/%07d", a.HTTPAddr(), i), bytes.NewReader(value))
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
			for i := range 50 {
				put(1e6 + i)
			}
			b.ReportAllocs()
			u0, s0 := testutil.ProcessCPU()
			i := 0
			for b.Loop() {
				put(i)
				i++
			}
			u1, s1 := testutil.ProcessCPU()
			b.ReportMetric(float64(u1-u0)/float64(b.N), "user-ns/op")
			b.ReportMetric(float64(s1-s0)/float64(b.N), "sys-ns/op")
		})
	}
}
