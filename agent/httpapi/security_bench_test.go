package httpapi_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
	"github.com/murmurhq/murmur/internal/testcerts"
	"github.com/murmurhq/murmur/internal/testutil"
)

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	u, s := testutil.ProcessCPU()
	return u + s
}

// BenchmarkSecurityKVPut measures what TLS (with client certificates) and
// ACLs (20 tokens) add to a PUT of 128 bytes served over loopback, one
// keep-alive connection, against the in-memory backend (no fsync): the
// security cost alone. Sub-benchmarks alternate with -count.
//
//	go test -run '^$' -bench BenchmarkSecurityKVPut -count 5 ./agent/httpapi/
func BenchmarkSecurityKVPut(b *testing.B) {
	files, err := testcerts.Write(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		b.Fatal(err)
	}
	clientTLS, err := client.TLSConfig(files.CACert, files.ClientCert, files.ClientKey)
	if err != nil {
		b.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: clientTLS.RootCAs, ClientAuth: tls.RequireAndVerifyClientCert}
	cfg := acl.Config{Default: "deny"}
	for i := range 20 {
		cfg.Tokens = append(cfg.Tokens, acl.TokenConfig{Name: fmt.Sprintf("t%02d", i), Secret: fmt.Sprintf("secret-%02d-0123456789abcdef", i),
			Rules: []acl.RuleConfig{{Prefix: fmt.Sprintf("app%02d/", i), Access: "write"}, {Prefix: fmt.Sprintf("app%02d/secret/", i), Access: "deny"}}})
	}
	authz, err := acl.New(cfg, "root")
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		tls  bool
		acl  bool
	}{{"plain", false, false}, {"acl", false, true}, {"mtls", true, false}, {"mtls+acl", true, true}} {
		b.Run(v.name, func(b *testing.B) {
			be := httpapitest.New()
			opts := httpapi.Options{Membership: be, KV: be, Services: be}
			sc := httpapi.ServeConfig{Conns: httpapi.NewConnLimits(1024, 512)}
			scheme, token := "http", ""
			if v.acl {
				opts.ACL, token = authz, "secret-13-0123456789abcdef"
			}
			tr := &http.Transport{MaxIdleConnsPerHost: 4}
			if v.tls {
				sc.TLS, scheme = serverTLS, "https"
				tr.TLSClientConfig = clientTLS
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- httpapi.ServeWith(ctx, ln, httpapi.New(opts), sc) }()
			defer func() { cancel(); <-done; tr.CloseIdleConnections() }()
			hc := &http.Client{Transport: tr}
			url := scheme + "://" + ln.Addr().String() + "/v1/kv/app13/k"
			body := strings.Repeat("x", 128)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
				if token != "" {
					req.Header.Set(client.TokenHeader, token)
				}
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
			// CPU of client and server together: steadier than wall time
			// on a shared machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
