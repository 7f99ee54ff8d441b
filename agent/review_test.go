package agent

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/catalog"
)

// Regression tests for defects found in review.

func TestBroadcastBeforeStart(t *testing.T) {
	a, err := New(testConfig("early"), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	// memberlist asks for broadcasts while answering a ping inside Create.
	if b := a.del.GetBroadcasts(2, 1400); len(b) != 0 {
		t.Fatalf("broadcasts before start: %v", b)
	}
	a.Broadcast(msgTest, "x", []byte("payload"), true)
	if b := a.del.GetBroadcasts(2, 1400); len(b) != 1 {
		t.Fatalf("queued broadcast not returned: %v", b)
	}
}

// hookHandler runs hook once when a record with message msg is logged.
type hookHandler struct {
	slog.Handler
	msg  string
	once *sync.Once
	hook func()
}

func (h hookHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(h.hook)
	}
	return h.Handler.Handle(ctx, r)
}

func (h hookHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func (h hookHandler) WithGroup(g string) slog.Handler {
	h.Handler = h.Handler.WithGroup(g)
	return h
}

// TestShutdownDuringLeave: a Shutdown that starts while Leave is between
// its state change and memberlist's Leave must not make memberlist panic
// ("leave after shutdown"); it waits for the leave instead.
func TestShutdownDuringLeave(t *testing.T) {
	var a *Agent
	shut := make(chan error, 1)
	h := hookHandler{Handler: testLogger(t).Handler(), msg: "leaving cluster", once: new(sync.Once),
		hook: func() { go func() { shut <- a.Shutdown() }() }}
	peer := startAgent(t, testConfig("peer"))
	a = startAgent(t, testConfig("leaver"), WithLogger(slog.New(h)))
	joinAll(t, []*Agent{peer, a})
	if err := a.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(patience): // a hang, not slowness
		t.Fatal("Shutdown did not return")
	}
	allSee(t, []*Agent{peer}, "leaver", StatusLeft, patience)
}

func TestReloadUnchangedKeepsHealth(t *testing.T) {
	cfg := testConfig("r")
	cfg.Services = []client.ServiceDefinition{{Name: "batch", Check: &client.CheckDefinition{TTL: client.Duration(time.Minute)}}}
	a := startAgent(t, cfg)
	if err := a.Catalog().UpdateTTL("batch", catalog.HealthPassing, "ok"); err != nil {
		t.Fatal(err)
	}
	next := a.Config()
	next.Services = append(next.Services, client.ServiceDefinition{Name: "web", Port: 80})
	if res := a.Reload(next); len(res.Reloaded) != 1 || res.Reloaded[0] != "service" {
		t.Fatalf("first reload: %+v", res)
	}
	if res := a.Reload(next); len(res.Reloaded)+len(res.NotReloaded) != 0 {
		t.Fatalf("identical reload reported changes: %+v", res)
	}
	waitFor(t, 5*time.Second, "web from the reload", func() bool { return a.Catalog().Snapshot().Service("web") != nil })
	if in := a.Catalog().Snapshot().Service("batch"); len(in) != 1 || in[0].Health != catalog.HealthPassing {
		t.Fatalf("unchanged TTL service after reload: %+v", in)
	}
}

func TestValidateServicesInConfig(t *testing.T) {
	p := writeFile(t, "node_name = \"a\"\ndata_dir = \"/tmp/x\"\n[[service]]\nname = \"web\"\nport = 1\n[[service]]\nname = \"web\"\nport = 2\n")
	cfg, data, err := LoadFile(p, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	err = ValidateWithSource(&cfg, p, data)
	if err == nil || !strings.Contains(err.Error(), `line 6: service[1]: id "web" is already used by service[0]`) {
		t.Fatalf("duplicate ids: %v", err)
	}
	c := DevConfig()
	c.KV.MaxValueBytes = 10 << 20
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "kv.max_value_bytes") {
		t.Fatalf("value limit over the store's cap: %v", err)
	}
}

func TestDeregisterWhenStoreKeyGone(t *testing.T) {
	a := startAgent(t, testConfig("d"))
	if err := a.Catalog().Register(catalog.Definition{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store().Delete(context.Background(), catalog.Key("d", "web")); err != nil {
		t.Fatal(err)
	}
	if err := a.Catalog().Deregister("web"); err != nil {
		t.Fatalf("deregister after the key was deleted elsewhere: %v", err)
	}
}

// TestSendPathTakesNoAgentLock pins the fix of a startup deadlock found by
// the netns suite: Start holds a.mu while it registers services, and a
// store write forwards to peers through the send path, so that path must
// never take a.mu.
func TestSendPathTakesNoAgentLock(t *testing.T) {
	peer := startAgent(t, testConfig("peer"))
	a := startAgent(t, testConfig("self"))
	joinAll(t, []*Agent{peer, a})
	a.mu.Lock()
	done := make(chan error, 1)
	go func() {
		kvTransport{a}.Forward([]byte("x"), 3, "")
		done <- a.SendBestEffort("peer", msgTest, []byte("x"))
	}()
	select {
	case err := <-done:
		a.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(patience): // a deadlock, not slowness
		a.mu.Unlock()
		t.Fatal("the send path blocked on the agent's mutex")
	}
}
