package agent

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/internal/testcerts"
)

// These tests drive the agent's Consul-compatible API with the official
// Go client, github.com/hashicorp/consul/api, and check values.

// consulPair starts two joined agents serving the Consul API and returns
// a client of each.
func consulPair(t *testing.T, token string) (a, b *Agent, ca, cb *consul.Client) {
	t.Helper()
	var agents []*Agent
	for _, name := range []string{"c1", "c2"} {
		cfg := testConfig(name)
		cfg.ConsulAPI.Addr = "127.0.0.1:0"
		cfg.HTTP.Token = token
		agents = append(agents, startAgent(t, cfg))
	}
	joinAll(t, agents)
	return agents[0], agents[1], consulClient(t, agents[0], token), consulClient(t, agents[1], token)
}

func consulClient(t *testing.T, a *Agent, token string) *consul.Client {
	t.Helper()
	cfg := consul.DefaultNonPooledConfig()
	cfg.Address = a.ConsulAddr()
	cfg.Token = token
	c, err := consul.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConsulClientKV(t *testing.T) {
	_, _, ca, cb := consulPair(t, "")
	kv := ca.KV()
	if _, err := kv.Put(&consul.KVPair{Key: "app/db/host", Value: []byte("10.0.0.5"), Flags: 42}, nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"app/db/port", "app/web/port", "app/top"} {
		if _, err := kv.Put(&consul.KVPair{Key: k, Value: []byte("v-" + k)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	p, meta, err := kv.Get("app/db/host", nil)
	if err != nil || p == nil {
		t.Fatalf("Get = %v, %v", p, err)
	}
	if string(p.Value) != "10.0.0.5" || p.Flags != 42 || p.Key != "app/db/host" {
		t.Fatalf("Get = %+v", p)
	}
	if p.ModifyIndex == 0 || p.ModifyIndex > meta.LastIndex || !meta.KnownLeader || meta.LastContact != 0 {
		t.Fatalf("indexes: pair %d, meta %+v", p.ModifyIndex, meta)
	}
	if p, _, err := kv.Get("app/missing", nil); p != nil || err != nil {
		t.Fatalf("Get(missing) = %v, %v; want nil, nil (404)", p, err)
	}
	pairs, _, err := kv.List("app/db/", nil)
	if err != nil || len(pairs) != 2 || pairs[0].Key != "app/db/host" || string(pairs[1].Value) != "v-app/db/port" {
		t.Fatalf("List = %v, %v", pairs, err)
	}
	keys, _, err := kv.Keys("app/", "/", nil)
	if err != nil || !slices.Equal(keys, []string{"app/db/", "app/top", "app/web/"}) {
		t.Fatalf("Keys(app/, /) = %v, %v", keys, err)
	}
	keys, _, err = kv.Keys("app/", "", nil)
	if err != nil || len(keys) != 4 {
		t.Fatalf("Keys(app/) = %v, %v", keys, err)
	}
	// Replicated to the other agent.
	waitFor(t, 10*time.Second, "the write on c2", func() bool {
		p, _, err := cb.KV().Get("app/db/host", nil)
		return err == nil && p != nil && string(p.Value) == "10.0.0.5" && p.Flags == 42
	})
	if _, err := kv.Delete("app/top", nil); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := kv.Get("app/top", nil); p != nil {
		t.Fatalf("app/top after Delete = %+v", p)
	}
	if _, err := kv.DeleteTree("app/db/", nil); err != nil {
		t.Fatal(err)
	}
	keys, _, _ = kv.Keys("app/", "", nil)
	if !slices.Equal(keys, []string{"app/web/port"}) {
		t.Fatalf("keys after DeleteTree = %v", keys)
	}
	// What cannot be honest over gossip is refused, saying why; nothing
	// changes.
	ok, _, err := kv.CAS(&consul.KVPair{Key: "app/web/port", Value: []byte("x"), ModifyIndex: 1}, nil)
	if ok || err == nil || !strings.Contains(err.Error(), "last-writer-wins") {
		t.Fatalf("CAS = %v, %v; want a refusal naming last-writer-wins", ok, err)
	}
	if _, _, err := kv.Acquire(&consul.KVPair{Key: "app/lock", Session: "s"}, nil); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("Acquire: %v", err)
	}
	if _, _, _, err := ca.Txn().Txn(consul.TxnOps{{KV: &consul.KVTxnOp{Verb: consul.KVSet, Key: "app/t", Value: []byte("1")}}}, nil); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("Txn: %v", err)
	}
	p, _, _ = kv.Get("app/web/port", nil)
	if p == nil || string(p.Value) != "v-app/web/port" {
		t.Fatalf("after refusals: %+v", p)
	}
	if _, err := kv.Put(&consul.KVPair{Key: "_murmur/svc/x", Value: []byte("x")}, nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("write to the reserved prefix: %v", err)
	}
	// Another datacenter is unknown, as in Consul.
	if _, _, err := kv.Get("app/web/port", &consul.QueryOptions{Datacenter: "dc2"}); err == nil || !strings.Contains(err.Error(), "No path to datacenter") {
		t.Fatalf("dc2: %v", err)
	}
	if _, _, err := kv.Get("app/web/port", &consul.QueryOptions{Datacenter: "dc1", AllowStale: true}); err != nil {
		t.Fatalf("dc1, stale: %v", err)
	}
}

func TestConsulClientBlockingKV(t *testing.T) {
	_, _, ca, cb := consulPair(t, "")
	_, meta, err := cb.KV().Get("cfg/feature", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, lmeta, err := cb.KV().List("cfg/", nil)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		p   *consul.KVPair
		idx uint64
		err error
	}
	one, list := make(chan got, 1), make(chan got, 1)
	go func() {
		p, m, err := cb.KV().Get("cfg/feature", &consul.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute})
		one <- got{p, m.LastIndex, err}
	}()
	go func() {
		ps, m, err := cb.KV().List("cfg/", &consul.QueryOptions{WaitIndex: lmeta.LastIndex, WaitTime: time.Minute})
		g := got{idx: m.LastIndex, err: err}
		if len(ps) > 0 {
			g.p = ps[0]
		}
		list <- g
	}()
	// The write is made on the other agent.
	if _, err := ca.KV().Put(&consul.KVPair{Key: "cfg/feature", Value: []byte("on")}, nil); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan got{one, list} {
		select {
		case g := <-ch:
			if g.err != nil || g.p == nil || string(g.p.Value) != "on" || g.idx <= meta.LastIndex {
				t.Fatalf("blocking read = %+v (index before %d)", g, meta.LastIndex)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("blocking read not released by a write on the other agent")
		}
	}
}

func TestConsulClientCatalogHealthAgent(t *testing.T) {
	a, _, ca, cb := consulPair(t, "sekrit")
	reg := &consul.AgentServiceRegistration{
		ID: "web1", Name: "web", Port: 8080, Address: "127.0.0.10", Tags: []string{"v1", "primary"},
		Meta:  map[string]string{"team": "blue"},
		Check: &consul.AgentServiceCheck{TTL: "30s", Status: consul.HealthPassing},
	}
	if err := ca.Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	if err := cb.Agent().ServiceRegister(&consul.AgentServiceRegistration{
		ID: "web2", Name: "web", Port: 8081, Tags: []string{"v2"},
		Check: &consul.AgentServiceCheck{TTL: "30s"}, // critical until the first pass
	}); err != nil {
		t.Fatal(err)
	}
	if err := cb.Agent().ServiceRegister(&consul.AgentServiceRegistration{Name: "db", Port: 5432}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "three instances in c1's catalog", func() bool {
		s, _, err := ca.Catalog().Service("web", "", nil)
		d, _, _ := ca.Catalog().Service("db", "", nil)
		return err == nil && len(s) == 2 && len(d) == 1
	})

	svcs, meta, err := ca.Catalog().Services(nil)
	if err != nil || meta.LastIndex == 0 {
		t.Fatalf("Services: %v %+v", err, meta)
	}
	if !slices.Equal(svcs["web"], []string{"primary", "v1", "v2"}) || len(svcs["db"]) != 0 {
		t.Fatalf("Services = %v", svcs)
	}
	cs, _, err := ca.Catalog().Service("web", "v1", nil)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Service(web, v1) = %v, %v", cs, err)
	}
	if c := cs[0]; c.Node != "c1" || c.ServiceID != "web1" || c.ServicePort != 8080 || c.ServiceAddress != "127.0.0.10" ||
		c.ServiceMeta["team"] != "blue" || c.Datacenter != "dc1" || c.Address != "127.0.0.1" {
		t.Fatalf("CatalogService = %+v", c)
	}
	nodes, _, err := ca.Catalog().Nodes(nil)
	if err != nil || len(nodes) != 2 || nodes[0].Node != "c1" || nodes[1].Node != "c2" || nodes[0].Address != "127.0.0.1" {
		t.Fatalf("Nodes = %v, %v", nodes, err)
	}
	cn, _, err := ca.Catalog().Node("c2", nil)
	if err != nil || cn == nil || len(cn.Services) != 2 || cn.Services["db"].Port != 5432 {
		t.Fatalf("Node(c2) = %+v, %v", cn, err)
	}

	// Health: web2 is critical until its TTL check passes.
	entries, _, err := ca.Health().Service("web", "", true, nil)
	if err != nil || len(entries) != 1 || entries[0].Service.ID != "web1" || entries[0].Checks.AggregatedStatus() != consul.HealthPassing {
		t.Fatalf("Health.Service(passing) = %v, %v", entries, err)
	}
	all, hmeta, err := ca.Health().Service("web", "", false, nil)
	if err != nil || len(all) != 2 || all[1].Checks.AggregatedStatus() != consul.HealthCritical || all[1].Node.Node != "c2" {
		t.Fatalf("Health.Service(all) = %v, %v", all, err)
	}
	if e, _, _ := ca.Health().Service("web", "v2", false, nil); len(e) != 1 || e[0].Service.ID != "web2" {
		t.Fatalf("Health.Service(tag v2) = %v", e)
	}
	if e, _, _ := ca.Health().ServiceMultipleTags("web", []string{"v1", "primary"}, false, nil); len(e) != 1 || e[0].Service.ID != "web1" {
		t.Fatalf("Health.ServiceMultipleTags = %v", e)
	}
	crit, _, err := ca.Health().State(consul.HealthCritical, nil)
	if err != nil || len(crit) != 1 || crit[0].CheckID != "service:web2" {
		t.Fatalf("Health.State(critical) = %v, %v", crit, err)
	}
	checks, _, err := ca.Health().Checks("web", nil)
	if err != nil || len(checks) != 2 {
		t.Fatalf("Health.Checks = %v, %v", checks, err)
	}

	// A blocking health query on c1 is released by a TTL pass on c2.
	done := make(chan []*consul.ServiceEntry, 1)
	go func() {
		e, _, err := ca.Health().Service("web", "", true, &consul.QueryOptions{WaitIndex: hmeta.LastIndex, WaitTime: time.Minute})
		if err != nil {
			t.Error(err)
		}
		done <- e
	}()
	if err := cb.Agent().PassTTL("service:web2", "all good"); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-done:
		if len(e) != 2 {
			// The wait may end on an unrelated change; the next read shows it.
			waitFor(t, 10*time.Second, "web2 passing on c1", func() bool {
				e, _, _ := ca.Health().Service("web", "", true, nil)
				return len(e) == 2
			})
		}
	case <-time.After(30 * time.Second):
		t.Fatal("blocking health query not released")
	}
	e, _, _ := ca.Health().Service("web", "v2", true, nil)
	if len(e) != 1 || e[0].Checks[1].Output != "all good" {
		t.Fatalf("web2 after PassTTL = %+v", e)
	}
	if err := cb.Agent().FailTTL("service:web2", "down"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "web2 critical on c1", func() bool {
		e, _, _ := ca.Health().Service("web", "", true, nil)
		return len(e) == 1
	})
	if err := cb.Agent().UpdateTTL("service:web2", "slow", consul.HealthWarning); err != nil {
		t.Fatal(err)
	}

	// Agent endpoints.
	self, err := ca.Agent().Self()
	if err != nil || self["Config"]["NodeName"] != "c1" || self["Config"]["Datacenter"] != "dc1" || self["Member"]["Name"] != "c1" {
		t.Fatalf("Self = %v, %v", self, err)
	}
	if name, err := ca.Agent().NodeName(); err != nil || name != "c1" {
		t.Fatalf("NodeName = %q, %v", name, err)
	}
	mem, err := ca.Agent().Members(false)
	if err != nil || len(mem) != 2 || mem[1].Name != "c2" || mem[1].Status != 1 || mem[1].Tags["dc"] != "dc1" {
		t.Fatalf("Members = %v, %v", mem, err)
	}
	local, err := cb.Agent().Services()
	if err != nil || len(local) != 2 || local["web2"].Port != 8081 || local["db"].Service != "db" {
		t.Fatalf("Agent.Services = %v, %v", local, err)
	}
	leader, err := ca.Status().Leader()
	if err != nil || leader != addr(a) {
		t.Fatalf("Leader = %q, %v", leader, err)
	}
	peers, err := ca.Status().Peers()
	if err != nil || len(peers) != 2 {
		t.Fatalf("Peers = %v, %v", peers, err)
	}

	// Writes need the token (http.token); nothing changes without it.
	anon := consulClient(t, a, "")
	err = anon.Agent().ServiceDeregister("web1")
	var se consul.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden || !strings.Contains(se.Body, "Permission denied") {
		t.Fatalf("deregister without token: %v", err)
	}
	if _, err := anon.KV().Put(&consul.KVPair{Key: "k", Value: []byte("v")}, &consul.WriteOptions{Token: "wrong"}); err == nil || !strings.Contains(err.Error(), "ACL not found") {
		t.Fatalf("put with a wrong token: %v", err)
	}
	if p, _, _ := anon.KV().Get("k", nil); p != nil {
		t.Fatalf("a refused write was kept: %+v", p)
	}
	// ?token= works as well as the header.
	resp, err := http.Post("http://"+a.ConsulAddr()+"/v1/kv/k?token=sekrit", "", strings.NewReader("v"))
	if err == nil {
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPut, "http://"+a.ConsulAddr()+"/v1/kv/k?token=sekrit", strings.NewReader("v"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT ?token=: %v %v", resp, err)
	}
	resp.Body.Close()

	// Deregister: gone from the catalog everywhere.
	if err := ca.Agent().ServiceDeregister("web1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "web1 gone from c2", func() bool {
		s, _, err := cb.Catalog().Service("web", "", nil)
		return err == nil && len(s) == 1 && s[0].ServiceID == "web2"
	})
	err = ca.Agent().ServiceDeregister("web1")
	if !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Fatalf("deregister twice: %v", err)
	}
	coords, _, err := ca.Coordinate().Nodes(nil)
	if err != nil {
		t.Fatalf("Coordinate.Nodes: %v", err)
	}
	for _, c := range coords {
		if c.Coord == nil || len(c.Coord.Vec) == 0 {
			t.Fatalf("coordinate %+v", c)
		}
	}

	// Unknown endpoints: 404 with a hint.
	resp, err = http.Get("http://" + a.ConsulAddr() + "/v1/acl/tokens")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "docs/consul-compat.md") {
		t.Fatalf("unknown endpoint: %d %s", resp.StatusCode, body)
	}
}

func TestCatalogIndex(t *testing.T) {
	cfg := testConfig("idx")
	a := startAgent(t, cfg)
	c := a.Catalog()
	i0 := c.Snapshot().Index()
	if i0 < 1 {
		t.Fatalf("first index %d, want at least 1", i0)
	}
	// Nothing changed: a membership kick that finds nothing new keeps the
	// index (the catalog's own tests cover coordinate-only snapshots).
	c.MembersChanged()
	if got := c.Snapshot().Index(); got != i0 {
		t.Fatalf("index after an idle rebuild = %d, want %d", got, i0)
	}
	done := make(chan uint64, 1)
	go func() {
		s, err := c.Wait(context.Background(), i0)
		if err != nil {
			t.Error(err)
		}
		done <- s.Index()
	}()
	if err := c.Register(catalog.Definition{Name: "web", Port: 80}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got <= i0 {
			t.Fatalf("Wait = %d, want > %d", got, i0)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Wait not released by a registration")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(ctx, c.Snapshot().Index()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with nothing changing = %v", err)
	}
}

func TestConsulAPIDefaults(t *testing.T) {
	if d := DefaultConfig(); d.ConsulAPI.Addr != "" || d.Datacenter != "dc1" {
		t.Fatalf("default consul_api.addr %q, datacenter %q: want off and dc1", d.ConsulAPI.Addr, d.Datacenter)
	}
	if d := DevConfig(); d.ConsulAPI.Addr != "127.0.0.1:8500" {
		t.Fatalf("-dev consul_api.addr %q, want 127.0.0.1:8500", d.ConsulAPI.Addr)
	}
	// A port already taken fails Start, naming the key.
	busy := testConfig("busy1")
	busy.ConsulAPI.Addr = "127.0.0.1:0"
	ln := startAgent(t, busy)
	c := testConfig("busy2")
	c.ConsulAPI.Addr = ln.ConsulAddr()
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	if err := a.Start(); err == nil || !strings.Contains(err.Error(), "consul_api.addr") {
		t.Fatalf("Start on a busy consul_api.addr = %v", err)
	}
}

// A Consul-compatible API off loopback makes requests without a token
// deny by default, as the native API off loopback does.
func TestACLDefaultFollowsConsulAddress(t *testing.T) {
	for _, tc := range []struct{ consul, want string }{
		{"", "allow"},
		{"127.0.0.1:8500", "allow"},
		{"0.0.0.0:8500", "deny"},
		{"10.0.0.5:8500", "deny"},
	} {
		c := DefaultConfig()
		c.ConsulAPI.Addr = tc.consul
		if got := c.aclDefault(); got != tc.want {
			t.Errorf("consul_api.addr %q: %s, want %s", tc.consul, got, tc.want)
		}
	}
}

// With http.tls_* set the Consul face is HTTPS with client certificates,
// as the native API; the official client reaches it with its TLS config.
func TestConsulClientMutualTLS(t *testing.T) {
	files, err := testcerts.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("tls1")
	cfg.ConsulAPI.Addr = "127.0.0.1:0"
	cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile, cfg.HTTP.TLSClientCAFile = files.ServerCert, files.ServerKey, files.CACert
	a := startAgent(t, cfg)
	cc := consul.DefaultNonPooledConfig()
	cc.Address, cc.Scheme = a.ConsulAddr(), "https"
	cc.TLSConfig = consul.TLSConfig{CAFile: files.CACert, CertFile: files.ClientCert, KeyFile: files.ClientKey}
	c, err := consul.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KV().Put(&consul.KVPair{Key: "tls/k", Value: []byte("v")}, nil); err != nil {
		t.Fatalf("put over mTLS: %v", err)
	}
	if p, _, err := c.KV().Get("tls/k", nil); err != nil || p == nil || string(p.Value) != "v" {
		t.Fatalf("get over mTLS = %v, %v", p, err)
	}
	// Without a client certificate the handshake fails; plain HTTP too.
	// (Fresh configs: the first client's transport keeps its connection.)
	cc = consul.DefaultNonPooledConfig()
	cc.Address, cc.Scheme = a.ConsulAddr(), "https"
	cc.TLSConfig = consul.TLSConfig{CAFile: files.CACert}
	anon, _ := consul.NewClient(cc)
	if _, _, err := anon.KV().Get("tls/k", nil); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	cc = consul.DefaultNonPooledConfig()
	cc.Address = a.ConsulAddr()
	plainc, _ := consul.NewClient(cc)
	if _, _, err := plainc.KV().Get("tls/k", nil); err == nil {
		t.Fatal("plain HTTP was served on a TLS listener")
	}
}
