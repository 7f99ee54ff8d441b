package agent

import (
	"slices"
	"testing"

	"github.com/murmurhq/murmur/agent/client"
)

func TestReloadServicesAndDNS(t *testing.T) {
	cfg := testConfig("r1")
	cfg.DNS.Addr = "127.0.0.1:0"
	cfg.Services = []client.ServiceDefinition{{Name: "old", Port: 1}}
	a := startAgent(t, cfg)
	has := func(name string) bool { return a.Catalog().Snapshot().Service(name) != nil }
	waitFor(t, patience, "old service", func() bool { return has("old") })

	next := a.Config()
	next.Services = []client.ServiceDefinition{{Name: "new", Port: 2}}
	next.DNS.Order = "nearest"
	next.BindAddr = "127.0.0.1:1"
	res := a.Reload(next)
	for _, k := range []string{"service", "dns.order"} {
		if !slices.Contains(res.Reloaded, k) {
			t.Errorf("%s not reloaded: %+v", k, res)
		}
	}
	if !slices.Equal(res.NotReloaded, []string{"bind_addr"}) {
		t.Errorf("not reloaded = %v, want [bind_addr]", res.NotReloaded)
	}
	waitFor(t, patience, "new service replaces old", func() bool { return has("new") && !has("old") })
	if got := a.dns.Config().Order; got != "nearest" {
		t.Errorf("dns order after reload = %q", got)
	}

	bad := a.Config()
	bad.Services = []client.ServiceDefinition{{Name: "bad name"}}
	if res := a.Reload(bad); !slices.Contains(res.NotReloaded, "service") {
		t.Errorf("an invalid service was reported reloaded: %+v", res)
	}
	if !has("new") {
		t.Error("a failed reload removed the running service")
	}
}
