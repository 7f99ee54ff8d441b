package catalog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/internal/clock"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		def  Definition
		err  string // "" valid
	}{
		{"minimal", Definition{Name: "web"}, ""},
		{"bad name", Definition{Name: "we b"}, "name:"},
		{"id with slash", Definition{Name: "web", ID: "a/b"}, "id:"},
		{"port", Definition{Name: "web", Port: 70000}, "port:"},
		{"address", Definition{Name: "web", Address: "host"}, "address:"},
		{"tag", Definition{Name: "web", Tags: []string{"-x"}}, "tags:"},
		{"two checks", Definition{Name: "web", Check: &Check{TCP: "a:1", TTL: time.Minute}}, "exactly one"},
		{"no check kind", Definition{Name: "web", Check: &Check{Interval: time.Minute}}, "exactly one"},
		{"tcp", Definition{Name: "web", Check: &Check{TCP: "nohost"}}, "check.tcp:"},
		{"http", Definition{Name: "web", Check: &Check{HTTP: "ftp://x"}}, "check.http:"},
		{"interval 1ns", Definition{Name: "web", Check: &Check{TCP: "a:1", Interval: 1}}, "check.interval: 1ns is below the minimum of 1s"},
		{"interval 999ms", Definition{Name: "web", Check: &Check{HTTP: "http://x/", Interval: 999 * time.Millisecond}}, "check.interval:"},
		{"interval 1s", Definition{Name: "web", Check: &Check{HTTP: "http://x/", Interval: time.Second}}, ""},
		{"ttl 10ms", Definition{Name: "web", Check: &Check{TTL: 10 * time.Millisecond}}, "check.ttl: 10ms is below the minimum of 1s"},
		{"negative ttl", Definition{Name: "web", Check: &Check{TTL: -time.Second}}, "check.ttl:"},
		{"negative timeout", Definition{Name: "web", Check: &Check{TTL: time.Second, Timeout: -1}}, "check.timeout:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Normalize(tc.def)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.ID == "" || got.Name != strings.ToLower(tc.def.Name) {
					t.Fatalf("defaults not filled: %+v", got)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidService) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want ErrInvalidService naming %q", err, tc.err)
			}
		})
	}
	// The caller's slices and check are not kept.
	def := Definition{Name: "Web", Tags: []string{"a"}, Check: &Check{TTL: time.Minute}}
	got, _ := Normalize(def)
	def.Tags[0], def.Check.TTL = "changed", time.Hour
	if got.Tags[0] != "a" || got.Check.TTL != time.Minute || got.ID != "Web" || got.Name != "web" {
		t.Fatalf("Normalize kept the caller's memory or lost the id's case: %+v %+v", got, got.Check)
	}
}

func TestRegisterDeregisterTTL(t *testing.T) {
	s := openStore(t, "self", "")
	c := start(t, Config{Node: "self", Store: s, Members: newMembers("self")})
	if err := c.Register(Definition{Name: "job", Check: &Check{TTL: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	// Register returns once the record is in the store.
	if r, err := s.Get(Key("self", "job")); err != nil || !strings.Contains(string(r.Value), `"critical"`) {
		t.Fatalf("record after Register: %q, %v", r.Value, err)
	}
	if err := c.UpdateTTL("job", HealthPassing, "ok"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, "job passing", func() bool { return health(c, "job", "self", "job") == HealthPassing })
	for _, tc := range []struct {
		id   string
		h    Health
		want error
	}{{"nope", HealthPassing, ErrUnknownService}, {"job", HealthUnknown, ErrInvalidService}} {
		if err := c.UpdateTTL(tc.id, tc.h, ""); !errors.Is(err, tc.want) {
			t.Errorf("UpdateTTL(%s, %s) = %v, want %v", tc.id, tc.h, err, tc.want)
		}
	}
	if err := c.Register(Definition{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateTTL("web", HealthPassing, ""); !errors.Is(err, ErrNotTTL) {
		t.Fatalf("UpdateTTL of a service without check = %v", err)
	}
	if err := c.Deregister("job"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(Key("self", "job")); !errors.Is(err, configsync.ErrNotFound) {
		t.Fatalf("record after Deregister: %v", err)
	}
	if err := c.Deregister("job"); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("second Deregister = %v", err)
	}
}

// failingStore fails Puts while fail is set.
type failingStore struct {
	*configsync.Store
	fail atomic.Bool
}

func (f *failingStore) Put(ctx context.Context, key string, v []byte, flags uint64) (configsync.Record, error) {
	if f.fail.Load() {
		return configsync.Record{}, configsync.ErrClosed
	}
	return f.Store.Put(ctx, key, v, flags)
}

// TestRegisterFailureChangesNothing: a registration answers success
// exactly when it took effect; one that fails leaves the previous state.
func TestRegisterFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	fs := &failingStore{Store: openStore(t, "self", "")}
	c := start(t, Config{Node: "self", DataDir: dir, Store: fs, Members: newMembers("self")})
	if err := c.Register(Definition{Name: "web", Port: 1}); err != nil {
		t.Fatal(err)
	}
	fs.fail.Store(true)
	if err := c.Register(Definition{Name: "web", Port: 2}); err == nil {
		t.Fatal("a registration whose write failed succeeded")
	}
	if err := c.Register(Definition{Name: "db"}); err == nil {
		t.Fatal("a new registration whose write failed succeeded")
	}
	fs.fail.Store(false)
	c.reg.mu.Lock()
	_, db := c.reg.services["db"]
	port := c.reg.services["web"].def.Port
	c.reg.mu.Unlock()
	if db || port != 1 {
		t.Fatalf("after failed registrations: db registered %v, web port %d (want none, 1)", db, port)
	}
	saved, _ := (&servicesFile{path: filepath.Join(dir, ServicesFile)}).load()
	if len(saved) != 1 || saved[0].Port != 1 {
		t.Fatalf("services file holds %+v, want web on port 1", saved)
	}
}

// TestConcurrentRegistrationsSaved: 100 concurrent registrations all
// succeed and are all in the services file, which a new catalog loads;
// the saves are grouped and leave no temporary file behind.
func TestConcurrentRegistrationsSaved(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, "self", "")
	c := start(t, Config{Node: "self", DataDir: dir, Store: s, Members: newMembers("self")})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() { errs <- c.Register(Definition{Name: "web", ID: fmt.Sprintf("web-%d", i), Port: 1000 + i}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != ServicesFile {
		t.Fatalf("data dir holds %v, want only %s", entries, ServicesFile)
	}
	again, err := New(Config{Node: "self", DataDir: dir, Store: s, Members: newMembers("self")})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again.reg.services); n != 100 {
		t.Fatalf("a new catalog loads %d services, want 100", n)
	}
	waitFor(t, wait, "100 instances", func() bool { return len(c.Snapshot().Service("web")) == 100 })
}

func TestSavedServicesFormat(t *testing.T) {
	// A file as older agents wrote it (the HTTP API's JSON) still loads.
	dir := t.TempDir()
	old := `[{"id":"w1","name":"Web","port":80,"check":{"http":"http://127.0.0.1/","interval":"10s","timeout":"2s"}},
{"name":"job","check":{"ttl":"1m0s"}}]`
	if err := os.WriteFile(filepath.Join(dir, ServicesFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Node: "self", DataDir: dir, Store: openStore(t, "self", ""), Members: newMembers("self")})
	if err != nil {
		t.Fatal(err)
	}
	w := c.reg.services["w1"]
	if w == nil || w.def.Name != "web" || w.def.Check.Interval != 10*time.Second || c.reg.services["job"].def.Check.TTL != time.Minute {
		t.Fatalf("loaded %+v", c.reg.services)
	}
	// A corrupt file is reported, not a crash, and registrations go on.
	if err := os.WriteFile(filepath.Join(dir, ServicesFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Node: "self", DataDir: dir, Store: openStore(t, "x", ""), Members: newMembers("x")}); err != nil {
		t.Fatal(err)
	}
}

// TestOwnerReasserts: a record of this node deleted or overwritten
// elsewhere (a reap while it was away) is written again; a record of an
// id it does not run is deleted.
func TestOwnerReasserts(t *testing.T) {
	s := openStore(t, "self", "")
	c := start(t, Config{Node: "self", Store: s, Members: newMembers("self")})
	if err := c.Register(Definition{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Delete(ctx, Key("self", "web")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, "web re-published", func() bool { _, err := s.Get(Key("self", "web")); return err == nil })
	putRecord(t, s, "self", Definition{Name: "ghost"}, HealthPassing)
	waitFor(t, wait, "ghost removed", func() bool { _, err := s.Get(Key("self", "ghost")); return err != nil })
}

// TestReapOnce: the services of a node gone from membership and silent for
// reap_after are deleted by the alive member with the lowest name only.
func TestReapOnce(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	open := func(node string) *configsync.Store {
		st, err := configsync.Open(configsync.Config{Node: node, Clock: clk, SyncInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a, b := open("a"), open("b")
	for _, st := range []*configsync.Store{a, b} {
		putRecord(t, st, "gone", Definition{Name: "web", ID: "1"}, HealthPassing)
		putRecord(t, st, "gone", Definition{Name: "web", ID: "2"}, HealthPassing)
		putRecord(t, st, "back", Definition{Name: "db"}, HealthPassing)
	}
	m := newMembers("a", "b", "back") // "gone" was reaped; "back" is a member
	ca := start(t, Config{Node: "a", Store: a, Members: m, ReapAfter: time.Hour, Clock: clk})
	cb := start(t, Config{Node: "b", Store: b, Members: m, ReapAfter: time.Hour, Clock: clk})
	if !ca.reaper(ca.Snapshot()) || cb.reaper(cb.Snapshot()) {
		t.Fatal("a, the alive member with the lowest name, must be the only reaper")
	}
	// The reap ticks run on the catalogs' goroutines, on the fake clock.
	tick := func() {
		waitFor(t, wait, "the tickers", func() bool { return clk.Waiters() >= 4 })
		clk.Advance(reapEvery(time.Hour))
	}
	tick() // 6 minutes: the namespace is too recent
	clk.Advance(2 * time.Hour)
	waitFor(t, wait, "a to reap", func() bool { return ca.Stats().Reaped == 2 })
	if n := len(a.Keys(Prefix + "gone/")); n != 0 {
		t.Fatalf("%d records of the gone node left", n)
	}
	if n := len(a.Keys(Prefix + "back/")); n != 1 {
		t.Fatal("a member's records were reaped")
	}
	tick()
	if cb.Stats().Reaped != 0 {
		t.Fatal("b reaped though a is the reaper")
	}
	// When a leaves, b takes over.
	m.set("a", StatusLeft)
	cb.MembersChanged()
	waitFor(t, wait, "b to see a left", func() bool { n, _ := cb.Snapshot().Node("a"); return n.Status == StatusLeft })
	tick()
	waitFor(t, wait, "b to reap", func() bool { return cb.Stats().Reaped == 2 && len(b.Keys(Prefix+"gone/")) == 0 })
}

func FuzzDecodeRecord(f *testing.F) {
	def, _ := Normalize(Definition{Name: "web", Address: "10.0.0.1", Port: 80, Tags: []string{"a"}, Meta: map[string]string{"k": "v"}})
	f.Add(Key("n", "web"), encodeRecord(def, HealthPassing, "ok"))
	f.Add(Key("n", "x"), []byte(`{"name":"web","port":-1}`))
	f.Add(Prefix+"nokey", []byte(`{}`))
	f.Add(Key("n", "x"), []byte(`{"name":"web","address":"::ffff:1.2.3.4","health":"warning"}`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		in, err := decodeRecord(key, value)
		if err != nil {
			return
		}
		if in.Service != strings.ToLower(in.Service) || checkLabel(in.Service) != nil || in.Health == HealthUnknown {
			t.Fatalf("decoded an instance outside the model: %+v", in)
		}
	})
}
