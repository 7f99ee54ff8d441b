package agent

import (
	"io"
	"net/http"
	"strings"
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

// TestCatalogMetrics: /metrics exports the catalog's age, rebuild time and
// decodes.
func TestCatalogMetrics(t *testing.T) {
	cfg := testConfig("met")
	cfg.HTTP.Addr = "127.0.0.1:0"
	a := startAgent(t, cfg)
	if err := a.Catalog().Register(catalog.Definition{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"murmur_catalog_age_seconds ",
		"murmur_catalog_rebuild_seconds_count ",
		"murmur_catalog_rebuild_seconds_sum ",
		"murmur_catalog_last_rebuild_seconds ",
		"murmur_catalog_decodes_total 1\n",
		"murmur_catalog_instances 1\n",
		"murmur_catalog_services 1\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
