package test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkConsulBlockingFanout: 1,000 concurrent blocking queries on one
// KV prefix of a real agentd's Consul-compatible API, all released by one
// put. Reported: the time from the put until the last watcher has its
// answer, and the agent's RSS with the watchers parked (and before them).
// The same run on the native API (X-Murmur-Index) is the A/B baseline.
//
//	go test -run XXX -bench ConsulBlockingFanout -benchtime 5x ./test
func BenchmarkConsulBlockingFanout(b *testing.B) {
	b.Run("consul", func(b *testing.B) { fanout(b, true) })
	b.Run("native", func(b *testing.B) { fanout(b, false) })
}

func fanout(b *testing.B, consulFace bool) {
	const watchers = 1000
	binaries(b)
	// The default limits (512 blocking queries, 512 connections per
	// client address) would turn half the watchers away with 429.
	limits := fastGossip + `
[http]
max_conns = 4096
max_conns_per_client = 4096
max_blocking_queries = 4096
`
	p := startAgentd(b, "fan", agentOpts{noData: true, config: limits, extra: []string{"-consul-addr", "127.0.0.1:0"}})
	consulAddr := p.loggedAddr(consulLine)
	tr := &http.Transport{MaxIdleConnsPerHost: watchers, MaxConnsPerHost: 0, IdleConnTimeout: time.Minute}
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	base, indexHeader := "http://"+consulAddr, "X-Consul-Index"
	if !consulFace {
		base, indexHeader = "http://"+p.httpAddr, "X-Murmur-Index"
	}
	put := func(v string) uint64 {
		req, _ := http.NewRequest(http.MethodPut, base+"/v1/kv/fan/key", strings.NewReader(v))
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		resp, err = hc.Get(base + "/v1/kv/fan/?recurse")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		idx, _ := strconv.ParseUint(resp.Header.Get(indexHeader), 10, 64)
		return idx
	}
	idx := put("0")
	rssIdle := rssKiB(b, p.cmd.Process.Pid)
	var lastMs, rssParked float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		var sent, answered, failed atomic.Int64
		var last atomic.Int64 // unix nanos of the latest answer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		for range watchers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
					fmt.Sprintf("%s/v1/kv/fan/?recurse&index=%d&wait=2m", base, idx), nil)
				sent.Add(1)
				resp, err := hc.Do(req)
				if err != nil {
					failed.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				now := time.Now().UnixNano()
				for {
					old := last.Load()
					if now <= old || last.CompareAndSwap(old, now) {
						break
					}
				}
				answered.Add(1)
			}()
		}
		// Parked: every request sent, and the agent's goroutines grown by
		// at least one per watcher.
		deadline := time.Now().Add(time.Minute)
		for sent.Load() < watchers || goroutines(b, hc, "http://"+p.httpAddr) < watchers {
			if time.Now().After(deadline) {
				b.Fatalf("watchers not parked after 1m (sent %d)", sent.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if answered.Load() != 0 {
			b.Fatalf("%d watchers answered before the put", answered.Load())
		}
		rssParked = max(rssParked, rssKiB(b, p.cmd.Process.Pid))
		t0 := time.Now()
		idx = put(strconv.Itoa(i + 1))
		wg.Wait()
		cancel()
		if failed.Load() != 0 || answered.Load() != watchers {
			b.Fatalf("answered %d, failed %d of %d", answered.Load(), failed.Load(), watchers)
		}
		lastMs += float64(time.Unix(0, last.Load()).Sub(t0).Microseconds()) / 1000
	}
	b.StopTimer()
	b.ReportMetric(lastMs/float64(b.N), "ms-to-last-answer")
	b.ReportMetric(rssIdle/1024, "MiB-rss-idle")
	b.ReportMetric(rssParked/1024, "MiB-rss-1000-parked")
}

// rssKiB reads VmRSS of pid.
func rssKiB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// goroutines reads go_goroutines from the agent's /metrics.
func goroutines(b *testing.B, hc *http.Client, httpBase string) int {
	resp, err := hc.Get(httpBase + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return 0
}
