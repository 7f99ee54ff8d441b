package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/configsync"
)

// Services. Each agent owns its local service instances and publishes
// each as one configsync key in its own namespace, svcPrefix + node + "/"
// + id, so services and their health replicate by the same mechanism as
// all other state. Only the owner writes its namespace; when anything
// else appears there (a tombstone written by an agent that reaped this
// node while it was away, or a stale entry from before a restart), the
// owner re-asserts what it really runs.

const (
	// svcPrefix is the reserved namespace of the service catalog.
	svcPrefix = "_murmur/svc/"
	// servicesFile persists services registered through the API.
	servicesFile = "services.json"
	maxServiceID = 128
	maxLabel     = 63
	maxTags      = 64
	maxSvcMeta   = 64
)

// Service errors.
var (
	// ErrInvalidService: a definition failed validation; the message
	// names the field.
	ErrInvalidService = errors.New("agent: invalid service definition")
	// ErrUnknownService: no local instance has that id.
	ErrUnknownService = errors.New("agent: unknown service id")
)

// serviceRecord is the replicated value of one instance.
type serviceRecord struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Address string            `json:"address,omitempty"`
	Port    int               `json:"port,omitempty"`
	Tags    []string          `json:"tags,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Health  string            `json:"health"`
	Output  string            `json:"output,omitempty"`
}

func svcKey(node, id string) string { return svcPrefix + node + "/" + id }

// localService is one instance registered on this agent.
type localService struct {
	def        client.ServiceDefinition
	fromConfig bool
	check      *checkRunner // nil: no check, always passing
	stop       context.CancelFunc
}

func (s *localService) record() serviceRecord {
	r := serviceRecord{
		ID: s.def.ID, Name: s.def.Name, Address: s.def.Address, Port: s.def.Port,
		Tags: s.def.Tags, Meta: s.def.Meta, Health: client.HealthPassing,
	}
	if s.check != nil {
		r.Health, r.Output = s.check.status()
	}
	return r
}

// registry is the set of local services.
type registry struct {
	a *Agent

	mu sync.Mutex
	// services by id; guarded by mu.
	services map[string]*localService
	// ctx is the agent's run context once started; guarded by mu.
	ctx context.Context
}

// ValidateService checks a definition and fills its defaults (ID from
// Name). Errors wrap ErrInvalidService and name the field.
func ValidateService(def *client.ServiceDefinition) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidService, field, fmt.Sprintf(format, args...))
	}
	if err := checkLabel(def.Name); err != nil {
		return bad("name", "%v", err)
	}
	if def.ID == "" {
		def.ID = def.Name
	}
	if len(def.ID) > maxServiceID || strings.ContainsAny(def.ID, "/ ") || hasControl(def.ID) {
		return bad("id", "%q: at most %d bytes, no '/', spaces or control characters", def.ID, maxServiceID)
	}
	if def.Port < 0 || def.Port > 65535 {
		return bad("port", "%d is not a port", def.Port)
	}
	if def.Address != "" {
		if _, err := netip.ParseAddr(def.Address); err != nil {
			return bad("address", "%q is not an IP address", def.Address)
		}
	}
	if len(def.Tags) > maxTags {
		return bad("tags", "%d tags, at most %d", len(def.Tags), maxTags)
	}
	for _, tag := range def.Tags {
		if err := checkLabel(tag); err != nil {
			return bad("tags", "%v", err)
		}
	}
	if len(def.Meta) > maxSvcMeta {
		return bad("meta", "%d keys, at most %d", len(def.Meta), maxSvcMeta)
	}
	for k, v := range def.Meta {
		if k == "" || len(k) > 128 || len(v) > 512 || hasControl(k) || hasControl(v) {
			return bad("meta", "key %q: keys 1-128 and values up to 512 bytes, no control characters", k)
		}
	}
	if c := def.Check; c != nil {
		kinds := 0
		for _, set := range []bool{c.TCP != "", c.HTTP != "", c.TTL > 0} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return bad("check", "exactly one of tcp, http and ttl must be set")
		}
		if c.TCP != "" {
			if _, err := netip.ParseAddrPort(c.TCP); err != nil {
				if h, p, ok := strings.Cut(c.TCP, ":"); !ok || h == "" || p == "" {
					return bad("check.tcp", "%q: want HOST:PORT", c.TCP)
				}
			}
		}
		if c.HTTP != "" {
			u, err := url.Parse(c.HTTP)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return bad("check.http", "%q: want an http:// or https:// URL", c.HTTP)
			}
		}
		if c.TTL < 0 || c.Interval < 0 || c.Timeout < 0 {
			return bad("check", "ttl, interval and timeout must not be negative")
		}
		if c.SuccessBeforePassing < 0 || c.FailuresBeforeCritical < 0 {
			return bad("check", "success_before_passing and failures_before_critical must not be negative")
		}
	}
	return nil
}

// checkLabel accepts a DNS label: letters, digits and '-', 1 to 63 bytes,
// not starting or ending with '-'.
func checkLabel(s string) error {
	if s == "" || len(s) > maxLabel {
		return fmt.Errorf("%q must be 1 to %d bytes", s, maxLabel)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%q: use letters, digits and '-' (it is a DNS label)", s)
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return fmt.Errorf("%q must not start or end with '-'", s)
	}
	return nil
}

// start remembers the run context and registers the config's and the
// persisted API services. It does not publish them: Start calls it holding
// the agent's mutex, and a store write forwards to peers through
// Agent.memberlist, which takes that mutex (a self-deadlock whenever a
// peer had joined already). watchOwn's first reconcile publishes them.
func (r *registry) start(ctx context.Context, fromConfig []client.ServiceDefinition) error {
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
	for _, def := range fromConfig {
		if _, _, err := r.add(def, true); err != nil {
			return fmt.Errorf("agent: [[service]] %q: %w", def.Name, err)
		}
	}
	saved, err := r.load()
	if err != nil {
		r.a.log.Warn("cannot read registered services", "err", err)
	}
	for _, def := range saved {
		if _, _, err := r.add(def, false); err != nil {
			r.a.log.Warn("dropping a saved service", "id", def.ID, "err", err)
		}
	}
	return nil
}

// Register adds or replaces a local instance (the API's register).
func (r *registry) Register(def client.ServiceDefinition) error {
	if err := r.register(def, false); err != nil {
		return err
	}
	return r.save()
}

// register adds a local instance and publishes it.
func (r *registry) register(def client.ServiceDefinition, fromConfig bool) error {
	id, changed, err := r.add(def, fromConfig)
	if err != nil || !changed {
		return err
	}
	return r.publish(id)
}

// add validates def and makes it a local instance without publishing it.
// An instance registered again unchanged (a SIGHUP with the same
// [[service]]) keeps its check and health instead of restarting critical;
// changed reports whether anything was replaced.
func (r *registry) add(def client.ServiceDefinition, fromConfig bool) (id string, changed bool, err error) {
	if err := ValidateService(&def); err != nil {
		return "", false, err
	}
	def.Tags = slices.Clone(def.Tags)
	if def.Check != nil {
		c := *def.Check
		def.Check = &c
	}
	ls := &localService{def: def, fromConfig: fromConfig}
	id = def.ID
	if def.Check != nil {
		ls.check = newCheckRunner(*def.Check, r.a.clk, func(health, output string) {
			r.a.log.Info("service health changed", "service", def.Name, "id", id, "health", health, "output", output)
			_ = r.publish(id) // logged; retried on the next change
		})
	}
	r.mu.Lock()
	if old := r.services[id]; old != nil {
		if old.fromConfig == fromConfig && reflect.DeepEqual(old.def, def) {
			r.mu.Unlock()
			return id, false, nil
		}
		if old.stop != nil {
			old.stop()
		}
	}
	r.services[id] = ls
	if ls.check != nil && r.ctx != nil {
		ctx, cancel := context.WithCancel(r.ctx)
		ls.stop = cancel
		r.a.goRun(ctx, ls.check.run)
	}
	r.mu.Unlock()
	return id, true, nil
}

// Deregister removes a local instance.
func (r *registry) Deregister(id string) error {
	r.mu.Lock()
	ls := r.services[id]
	if ls == nil {
		r.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownService, id)
	}
	delete(r.services, id)
	if ls.stop != nil {
		ls.stop()
	}
	r.mu.Unlock()
	err := r.del(svcKey(r.a.cfg.NodeName, id))
	if errors.Is(err, configsync.ErrNotFound) {
		err = nil // already gone from the store (a peer's reap, say)
	}
	return errors.Join(err, r.save())
}

// UpdateTTL sets a TTL check's health.
func (r *registry) UpdateTTL(id, health, note string) error {
	r.mu.Lock()
	ls := r.services[id]
	r.mu.Unlock()
	if ls == nil {
		return fmt.Errorf("%w: %q", ErrUnknownService, id)
	}
	if ls.check == nil {
		return fmt.Errorf("%w: service %q has no check", ErrNotTTL, id)
	}
	return ls.check.updateTTL(health, note)
}

// writeTimeout bounds one local write of the registry.
const writeTimeout = 10 * time.Second

func (r *registry) put(key string, val []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	_, err := r.a.store.Put(ctx, key, val, 0)
	return err
}

func (r *registry) del(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	_, err := r.a.store.Delete(ctx, key)
	return err
}

// publish writes instance id's record to the store when it differs from
// what is there. A failure is logged and returned; the next change in the
// namespace (watchOwn) retries.
func (r *registry) publish(id string) error {
	r.mu.Lock()
	ls := r.services[id]
	r.mu.Unlock()
	if ls == nil {
		return nil
	}
	val, _ := json.Marshal(ls.record())
	key := svcKey(r.a.cfg.NodeName, id)
	if cur, err := r.a.store.Get(key); err == nil && !cur.Deleted && cur.Version.Node == r.a.cfg.NodeName && bytes.Equal(cur.Value, val) {
		return nil
	}
	if err := r.put(key, val); err != nil {
		r.a.log.Error("cannot publish service", "id", id, "err", err)
		return fmt.Errorf("agent: publish service %q: %w", id, err)
	}
	return nil
}

// reconcile makes this node's namespace in the store match the local
// registry: it re-asserts every local instance and deletes any other key.
func (r *registry) reconcile() {
	prefix := svcPrefix + r.a.cfg.NodeName + "/"
	r.mu.Lock()
	ids := make([]string, 0, len(r.services))
	for id := range r.services {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	for _, rec := range r.a.store.List(prefix) {
		id := strings.TrimPrefix(rec.Key, prefix)
		if !slices.Contains(ids, id) {
			if err := r.del(rec.Key); err != nil {
				r.a.log.Error("cannot remove stale service", "key", rec.Key, "err", err)
			}
		}
	}
	for _, id := range ids {
		_ = r.publish(id) // logged; retried on the next change
	}
}

// watchOwn re-asserts this node's namespace whenever it changes.
func (r *registry) watchOwn(ctx context.Context) {
	sub := r.a.store.Subscribe(svcPrefix + r.a.cfg.NodeName + "/")
	defer sub.Close()
	r.reconcile()
	for {
		select {
		case <-sub.C():
			r.reconcile()
		case <-ctx.Done():
			return
		}
	}
}

func (r *registry) path() string {
	if r.a.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(r.a.cfg.DataDir, servicesFile)
}

// save persists the API-registered services.
func (r *registry) save() error {
	p := r.path()
	if p == "" {
		return nil
	}
	r.mu.Lock()
	var defs []client.ServiceDefinition
	for _, ls := range r.services {
		if !ls.fromConfig {
			defs = append(defs, ls.def)
		}
	}
	r.mu.Unlock()
	slices.SortFunc(defs, func(a, b client.ServiceDefinition) int { return strings.Compare(a.ID, b.ID) })
	b, _ := json.MarshalIndent(defs, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("agent: save services: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("agent: save services: %w", err)
	}
	return nil
}

func (r *registry) load() ([]client.ServiceDefinition, error) {
	p := r.path()
	if p == "" {
		return nil, nil
	}
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var defs []client.ServiceDefinition
	if err := json.Unmarshal(b, &defs); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return defs, nil
}

// reloadConfigServices replaces the services that came from the config
// file (SIGHUP); API-registered ones stay.
func (r *registry) reloadConfigServices(defs []client.ServiceDefinition) error {
	defs = slices.Clone(defs)
	for i := range defs {
		if err := ValidateService(&defs[i]); err != nil { // fills the ids
			return err
		}
	}
	keep := map[string]bool{}
	for _, def := range defs {
		keep[def.ID] = true
		if err := r.register(def, true); err != nil {
			return err
		}
	}
	r.mu.Lock()
	var gone []string
	for id, ls := range r.services {
		if ls.fromConfig && !keep[id] {
			gone = append(gone, id)
		}
	}
	r.mu.Unlock()
	for _, id := range gone {
		if err := r.Deregister(id); err != nil {
			return err
		}
	}
	return nil
}
