package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/internal/testcerts"
)

// Figure 9: what the security features cost. Two agents with the same
// services and the same disk: "plain" (loopback HTTP, no token, no gossip
// key) and "secure" (HTTPS with mutual TLS, acl.default = "deny" and a
// token with kv write on bench/, a gossip key). KV puts and DNS queries run
// against them alternately, plain then secure, so machine load hits both.

const (
	secRounds  = 3
	secWindow  = 3 * time.Second
	secGossip  = "YmVuY2gtZ29zc2lwLWtleS0zMi1ieXRlcy1sb25nISE="
	secToken   = "bench-token-with-kv-write-on-bench"
	secClients = 16
)

func secureConfig(f *testcerts.Files) string {
	base := strings.Replace(dnsServiceConfig(), "[gossip]\n", "[gossip]\nkey = \""+secGossip+"\"\n", 1)
	return base + fmt.Sprintf(`
[http]
token = "bench-management-token"
tls_cert_file = %q
tls_key_file = %q
tls_client_ca_file = %q

[acl]
default = "deny"

[[acl.token]]
name = "bench"
secret = %q
rules = [{ prefix = "bench/", access = "write" }, { kind = "agent", access = "read" }]
`, f.ServerCert, f.ServerKey, f.CACert, secToken)
}

func runSecurity(ctx context.Context, e *env) error {
	dir := filepath.Join(e.dir, "certs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files, err := testcerts.Write(dir)
	if err != nil {
		return err
	}
	tc, err := client.TLSConfig(files.CACert, files.ClientCert, files.ClientKey)
	if err != nil {
		return err
	}
	// One transport per variant, like e.hc: keep-alive connections.
	newTransport := func(tls *tls.Config, keepAlive bool) *http.Transport {
		return &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
			TLSClientConfig: tls, DisableKeepAlives: !keepAlive}
	}
	plain, err := e.startAgent(ctx, agentSpec{name: "sec-plain", config: dnsServiceConfig()})
	if err != nil {
		return err
	}
	defer plain.stop()
	secure, err := e.startAgent(ctx, agentSpec{name: "sec-secure", config: secureConfig(files),
		api: func(addr string) (*client.Client, error) {
			return client.New("https://"+addr, client.WithToken(secToken),
				client.WithHTTPClient(&http.Client{Transport: newTransport(tc, true)}))
		}})
	if err != nil {
		return err
	}
	defer secure.stop()
	// Fresh-connection clients: one TLS handshake per put, like a script
	// calling agentctl for each write.
	plainOnce, _ := client.New(plain.httpAddr, client.WithHTTPClient(&http.Client{Transport: newTransport(nil, false)}))
	secureOnce, _ := client.New("https://"+secure.httpAddr, client.WithToken(secToken),
		client.WithHTTPClient(&http.Client{Transport: newTransport(tc, false)}))

	type variant struct {
		name string
		api  *client.Client
		once *client.Client
		a    *agentProc
	}
	variants := []variant{{"plain", plain.api, plainOnce, plain}, {"secure", secure.api, secureOnce, secure}}
	kinds := []struct {
		name    string
		clients int
		api     func(v variant) *client.Client
	}{
		{fmt.Sprintf("c%d", secClients), secClients, func(v variant) *client.Client { return v.api }},
		{"c1", 1, func(v variant) *client.Client { return v.api }},
		{"c1_new_conn", 1, func(v variant) *client.Client { return v.once }},
	}
	rates := map[string][]float64{}
	p99s := map[string][]float64{}
	for r := 1; r <= secRounds; r++ {
		for _, k := range kinds {
			for _, v := range variants {
				rate, d, err := putLoad(ctx, k.api(v), k.clients, secWindow, fmt.Sprintf("bench/sec/%s/%d", k.name, r))
				if err != nil {
					return fmt.Errorf("%s %s round %d: %w", v.name, k.name, r, err)
				}
				key := k.name + "." + v.name
				rates[key] = append(rates[key], rate)
				p99s[key] = append(p99s[key], d.P99*1e3)
				e.logf("security round %d %-12s %-6s %7.0f puts/s  p50 %.2f ms  p99 %.2f ms  load %s", r, k.name, v.name, rate, d.P50*1e3, d.P99*1e3, loadAvg())
			}
		}
	}
	cmd := fmt.Sprintf("go run ./test/bench -only security  # PUT /v1/kv of 128 B for %v per run, %d rounds alternating plain and secure", secWindow, secRounds)
	for _, k := range kinds {
		pl, se := median(rates[k.name+".plain"]), median(rates[k.name+".secure"])
		note := fmt.Sprintf("median of %d; per run plain %s secure %s; p99 ms plain %.2f secure %.2f", secRounds,
			fmtInts(rates[k.name+".plain"]), fmtInts(rates[k.name+".secure"]), median(p99s[k.name+".plain"]), median(p99s[k.name+".secure"]))
		e.rec.add(Result{Figure: "9", Name: "security.kv_put." + k.name + ".plain", Value: pl, Unit: "puts/s", Command: cmd, Note: note})
		e.rec.add(Result{Figure: "9", Name: "security.kv_put." + k.name + ".secure", Value: se, Unit: "puts/s", Command: cmd})
		if pl > 0 {
			e.rec.add(Result{Figure: "9", Name: "security.kv_put." + k.name + ".ratio_secure_over_plain", Value: se / pl, Unit: "x", Command: cmd})
		}
	}
	return e.securityDNS(ctx, plain, secure)
}

// putLoad runs clients writers of 128-byte values under prefix for window
// and returns puts/s and the latency distribution.
func putLoad(ctx context.Context, api *client.Client, clients int, window time.Duration, prefix string) (float64, dist, error) {
	value := make([]byte, 128)
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	var count atomic.Int64
	var failed atomic.Value
	lat := make([][]float64, clients)
	var wg sync.WaitGroup
	t0 := time.Now()
	for c := range clients {
		wg.Go(func() {
			for i := 0; wctx.Err() == nil; i++ {
				s := time.Now()
				if _, err := api.KVPut(wctx, fmt.Sprintf("%s/%02d/%07d", prefix, c, i), value, 0); err != nil {
					if wctx.Err() == nil {
						failed.Store(err)
					}
					return
				}
				lat[c] = append(lat[c], time.Since(s).Seconds())
				count.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0).Seconds()
	if ctx.Err() != nil {
		return 0, dist{}, ctx.Err()
	}
	if err, ok := failed.Load().(error); ok {
		return 0, dist{}, err
	}
	var all []float64
	for _, l := range lat {
		all = append(all, l...)
	}
	return float64(count.Load()) / elapsed, distOf(all), nil
}

// securityDNS runs dnsperf against both agents alternately.
func (e *env) securityDNS(ctx context.Context, plain, secure *agentProc) error {
	dnsperf, err := exec.LookPath("dnsperf")
	if err != nil {
		e.rec.skip("figure 9 DNS: dnsperf not found in PATH; install it with `apt-get install dnsperf`")
		return nil
	}
	qs := dnsQueries()
	for _, a := range []*agentProc{plain, secure} {
		if _, err := waitAnswers(ctx, a.dnsAddr, qs); err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
	}
	qPath := filepath.Join(e.dir, "sec-queries.txt")
	if err := os.WriteFile(qPath, []byte(queryFile(qs)), 0o644); err != nil {
		return err
	}
	flags := []string{"-c", strconv.Itoa(e.opts.dnsClients), "-q", "100", "-l", strconv.Itoa(e.opts.dnsSeconds)}
	for _, a := range []*agentProc{plain, secure} { // warm up, unrecorded
		if _, err := e.dnsperf(ctx, dnsperf, a.dnsAddr, qPath, []string{"-c", strconv.Itoa(e.opts.dnsClients), "-l", "1"}, nil); err != nil {
			return err
		}
	}
	qps := map[string][]float64{}
	for r := 1; r <= secRounds; r++ {
		for _, a := range []*agentProc{plain, secure} {
			pr, err := e.dnsperf(ctx, dnsperf, a.dnsAddr, qPath, flags, nil)
			if err != nil {
				return fmt.Errorf("%s round %d: %w", a.name, r, err)
			}
			qps[a.name] = append(qps[a.name], pr.QPS)
			e.logf("security dns round %d %-10s %8.0f q/s  p99 %.3f ms  lost %d  load %s", r, a.name, pr.QPS, pr.P99*1e3, pr.Lost, loadAvg())
		}
	}
	cmd := fmt.Sprintf("go run ./test/bench -only security  # dnsperf -s 127.0.0.1 -p PORT -d queries.txt %s -v, alternating plain and secure (GOMAXPROCS=%d)",
		strings.Join(flags, " "), e.gomaxprocs)
	pl, se := median(qps[plain.name]), median(qps[secure.name])
	note := fmt.Sprintf("median of %d; per run plain %s secure %s", secRounds, fmtInts(qps[plain.name]), fmtInts(qps[secure.name]))
	e.rec.add(Result{Figure: "9", Name: "security.dns.qps.plain", Value: pl, Unit: "q/s", Command: cmd, Note: note})
	e.rec.add(Result{Figure: "9", Name: "security.dns.qps.secure", Value: se, Unit: "q/s", Command: cmd})
	if pl > 0 {
		e.rec.add(Result{Figure: "9", Name: "security.dns.qps.ratio_secure_over_plain", Value: se / pl, Unit: "x", Command: cmd})
	}
	return nil
}

// fmtInts formats rates without decimals.
func fmtInts(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
