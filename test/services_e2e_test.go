package test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

// TestConcurrentRegistrations: 100 registrations at once all answer 200,
// are all in the catalog, and all survive kill -9 and a restart (the
// services file is saved before the API answers).
func TestConcurrentRegistrations(t *testing.T) {
	p := startAgentd(t, "reg", agentOpts{})
	c, err := client.New(p.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	t0 := time.Now()
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			errs <- c.Register(ctx, client.ServiceDefinition{Name: "web", ID: fmt.Sprintf("web-%03d", i), Port: 8000 + i})
		})
	}
	wg.Wait()
	t.Logf("100 concurrent registrations in %v", time.Since(t0))
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a concurrent registration failed: %v", err)
		}
	}
	count := func() int {
		c, err := client.New(p.httpAddr) // a restart binds new ports
		if err != nil {
			t.Fatal(err)
		}
		insts, err := c.Service(ctx, "web", false)
		if err != nil {
			return -1
		}
		return len(insts)
	}
	if n := count(); n != 100 {
		t.Fatalf("%d instances after 100 registrations answered 200", n)
	}
	p.kill9()
	t0 = time.Now()
	p.restart()
	t.Logf("restart in %v", time.Since(t0))
	if n := count(); n != 100 {
		t.Fatalf("%d instances after kill -9 and restart, want 100", n)
	}
}

// TestServiceNamesCaseInsensitive: Web and WEB are one service in
// registration, `agentctl services` and DNS; a check interval below 1s
// is refused naming the field.
func TestServiceNamesCaseInsensitive(t *testing.T) {
	needDig(t)
	p := startAgentd(t, "case", agentOpts{})
	p.register("-name", "Web", "-port", "1")
	p.register("-name", "WEB", "-port", "2")
	out, errOut, code := p.agentctl("services")
	if code != 0 {
		t.Fatalf("agentctl services: %s", errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "web") || !strings.Contains(lines[1], " 2 ") {
		t.Fatalf("agentctl services lists\n%s\nwant one service web with 2 instances", out)
	}
	_, errOut, code = p.agentctl("service", "register", "-name", "x", "-check-tcp", "127.0.0.1:1", "-interval", "100ms")
	if code == 0 || !strings.Contains(errOut, "check.interval") || !strings.Contains(errOut, "1s") {
		t.Fatalf("interval 100ms: exit %d, %q; want a refusal naming check.interval and the 1s minimum", code, errOut)
	}
	eventually(t, 10*time.Second, "WEB in DNS", func() bool {
		return len(ofType(p.dig("wEb.service.murmur", "SRV").answer, "SRV")) == 2
	})
}
