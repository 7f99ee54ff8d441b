package catalog

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// members is a Members whose list tests change.
type members struct {
	mu    sync.Mutex
	nodes []Node
}

func newMembers(names ...string) *members {
	m := &members{}
	for i, n := range names {
		m.nodes = append(m.nodes, Node{Name: n, Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), Status: StatusAlive})
	}
	return m
}

func (m *members) Members() []Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.nodes)
}

func (m *members) set(name string, st Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.nodes {
		if m.nodes[i].Name == name {
			m.nodes[i].Status = st
			return
		}
	}
	m.nodes = append(m.nodes, Node{Name: name, Status: st})
}

func (m *members) remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes = slices.DeleteFunc(m.nodes, func(n Node) bool { return n.Name == name })
}

// testLogger logs to t.Log until the test ends.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(&tWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	t  testing.TB
	mu sync.Mutex
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// openStore opens a running in-memory (dir "") or on-disk store closed
// at test end.
func openStore(t testing.TB, node, dir string) *configsync.Store {
	t.Helper()
	s, err := configsync.Open(configsync.Config{Node: node, DataDir: dir, SyncInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		s.Close()
	})
	return s
}

// start runs a catalog until the test ends.
func start(t testing.TB, cfg Config) *Catalog {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	<-c.Ready()
	return c
}

var waitFor = testutil.WaitFor

// putRecord writes a record as node's agent would.
func putRecord(t testing.TB, s *configsync.Store, node string, def Definition, h Health) {
	t.Helper()
	def, err := Normalize(def)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), Key(node, def.ID), encodeRecord(def, h, ""), 0); err != nil {
		t.Fatal(err)
	}
}

// health returns the health of instance id of service svc on node, or
// HealthUnknown.
func health(c *Catalog, svc, node, id string) Health {
	for _, in := range c.Snapshot().Service(svc) {
		if in.Node == node && in.ID == id {
			return in.Health
		}
	}
	return HealthUnknown
}

const wait = 10 * time.Second
