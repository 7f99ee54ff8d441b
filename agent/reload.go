package agent

import (
	"slices"
	"strings"

	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/config"
)

// ReloadResult says which changed configuration keys took effect and which
// need a restart.
type ReloadResult struct {
	Reloaded    []string
	NotReloaded []string
}

// Reload applies the parts of cfg that can change at runtime, services
// and checks ([[service]]), watches ([[watch]]: unchanged ones keep
// running) and DNS answering settings (dns.* except dns.addr), and reports every changed key (dotted TOML name) as reloaded
// or not. log.level is reported as reloaded: the caller owns the log
// handler and applies it. Reload compares against the configuration last
// applied (the one the agent started with, plus earlier reloads), so a key
// that needs a restart is reported on every reload until then. Before
// Start, or after Leave, nothing is applied.
func (a *Agent) Reload(cfg Config) ReloadResult {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.applied == nil {
		c := a.cfg.Clone()
		a.applied = &c
	}
	var res ReloadResult
	keys := config.Changed(*a.applied, cfg)
	if a.memberlist() == nil || a.leaving() {
		res.NotReloaded = keys
		return res
	}
	dnsOK, svcOK, watchOK := true, true, true
	secFailed := a.reloadSecurity(cfg) // always: it re-reads TLS files
	for _, key := range keys {
		switch {
		case key == "service":
			if err := a.Catalog().ReloadConfig(httpapi.ToDefinitions(cfg.Services)); err != nil {
				a.log.Error("reload services", "err", err)
				svcOK = false
			}
		case key == "watch":
			if err := a.watches.mgr.Set(cfg.Watches); err != nil {
				a.log.Error("reload watches", "err", err)
				watchOK = false
			}
		case strings.HasPrefix(key, "dns.") && key != "dns.addr" && a.dns != nil && dnsOK:
			if err := a.dns.SetConfig(cfg.DNS.Config); err != nil {
				a.log.Error("reload dns", "err", err)
				dnsOK = false
			}
		}
	}
	for _, key := range keys {
		ok := key == "log.level" ||
			key == "service" && svcOK ||
			key == "watch" && watchOK ||
			strings.HasPrefix(key, "dns.") && key != "dns.addr" && a.dns != nil && dnsOK ||
			config.SecurityKey(key) && !slices.ContainsFunc(secFailed, func(f string) bool { return strings.HasPrefix(key, f) })
		if ok {
			res.Reloaded = append(res.Reloaded, key)
		} else {
			res.NotReloaded = append(res.NotReloaded, key)
		}
	}
	a.applied.Log.Level = cfg.Log.Level
	if svcOK {
		a.applied.Services = cfg.Clone().Services
	}
	if watchOK {
		a.applied.Watches = cfg.Clone().Watches
	}
	if dnsOK && a.dns != nil {
		a.applied.DNS.Config = cfg.DNS.Config
	}
	a.applied.ApplySecurity(cfg, secFailed)
	if slices.Contains(secFailed, "http.tls") && !slices.Contains(res.NotReloaded, "http.tls_cert_file") {
		// The files may be unchanged paths with new, broken contents.
		res.NotReloaded = append(res.NotReloaded, "http.tls_cert_file")
	}
	return res
}
