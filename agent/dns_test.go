package agent

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/murmurhq/murmur/catalog"
)

// TestSOASerialSurvivesRestart: the SOA serial comes from the catalog's
// content, so a restarted agent answers the serial it answered before.
func TestSOASerialSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("soa")
	cfg.DataDir = dir
	cfg.DNS.Addr = "127.0.0.1:0"
	serial := func(a *Agent) uint32 {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion("murmur.", dns.TypeSOA)
		c := &dns.Client{Timeout: 10 * time.Second} // loopback; generous for a busy machine
		r, _, err := c.Exchange(m, a.DNSAddr())
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("SOA: %v %v", r, err)
		}
		return r.Answer[0].(*dns.SOA).Serial
	}
	a := startAgent(t, cfg)
	if err := a.Catalog().Register(catalog.Definition{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	s1 := serial(a)
	if now := uint32(time.Now().Unix()); s1 < now-60 || s1 > now+60 {
		t.Fatalf("serial %d is not the time of the registration (%d)", s1, now)
	}
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	b := startAgent(t, cfg)
	if s2 := serial(b); s2 != s1 {
		t.Fatalf("serial after restart %d, before %d", s2, s1)
	}
}
