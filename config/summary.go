package config

// Summary is c as /v1/agent/self shows it: secrets replaced by whether
// they are set. encrypted is whether gossip runs encrypted (the keyring
// file may hold keys when gossip.key is empty), aclDefault the ACLs'
// default in force ("" leaves it out).
func (c *Config) Summary(encrypted bool, aclDefault string) map[string]any {
	h := &c.HTTP
	http := map[string]any{
		"addr":                 h.Addr,
		"token_set":            h.Token != "",
		"tls":                  h.TLSCertFile != "",
		"mutual_tls":           h.TLSClientCAFile != "",
		"allowed_hosts":        h.AllowedHosts,
		"max_conns":            OrDefault(h.MaxConns, DefaultMaxConns),
		"max_conns_per_client": OrDefault(h.MaxConnsPerClient, DefaultMaxConnsPerClient),
		"max_blocking_queries": OrDefault(h.MaxBlockingQueries, DefaultMaxBlockingQueries),
		"acl_tokens":           len(c.ACL.Tokens),
	}
	if aclDefault != "" {
		http["acl_default"] = aclDefault
	}
	return map[string]any{
		"node_name":      c.NodeName,
		"bind_addr":      c.BindAddr,
		"advertise_addr": c.AdvertiseAddr,
		"join":           c.Join,
		"data_dir":       c.DataDir,
		"dev":            c.Dev,
		"leave_timeout":  c.LeaveTimeout.D().String(),
		"reap_after":     c.ReapAfter.D().String(),
		"gossip": map[string]any{
			"profile":   c.Gossip.Profile,
			"encrypted": encrypted,
		},
		"http":       http,
		"consul_api": map[string]any{"addr": c.ConsulAPI.Addr},
		"datacenter": c.Datacenter,
		"dns":        map[string]any{"addr": c.DNS.Addr},
		"kv": map[string]any{
			"max_key_bytes":   c.KV.MaxKeyBytes,
			"max_value_bytes": c.KV.MaxValueBytes,
			"tombstone_ttl":   c.KV.TombstoneTTL.D().String(),
			"max_clock_skew":  c.KV.ClockSkew().String(),
		},
		"log": map[string]any{"level": c.Log.Level, "json": c.Log.JSON},
	}
}
