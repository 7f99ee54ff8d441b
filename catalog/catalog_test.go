package catalog

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/internal/clock"
)

// TestIncrementalOneDecodePerChange: at 2,000 instances, one instance's
// health change decodes one record, rebuilds one service, and shares
// every other service's instance list with the snapshot before.
func TestIncrementalOneDecodePerChange(t *testing.T) {
	s := openStore(t, "self", "")
	m := newMembers("self", "n1", "n2")
	var hooked []*Snapshot
	c := start(t, Config{Node: "self", Store: s, Members: m, OnSnapshot: func(s *Snapshot) { hooked = append(hooked, s) }})
	for i := range 2000 {
		putRecord(t, s, fmt.Sprintf("n%d", 1+i%2), Definition{Name: fmt.Sprintf("svc%d", i/10), ID: fmt.Sprintf("i%d", i), Port: 80}, HealthPassing)
	}
	waitFor(t, wait, "2000 instances", func() bool { return c.Snapshot().Len() == 2000 })
	before, decodes := c.Snapshot(), c.Stats().Decodes

	putRecord(t, s, "n2", Definition{Name: "svc7", ID: "i71", Port: 80}, HealthCritical)
	waitFor(t, wait, "the health change", func() bool { return health(c, "svc7", "n2", "i71") == HealthCritical })
	after := c.Snapshot()
	if d := c.Stats().Decodes - decodes; d != 1 {
		t.Fatalf("one health change decoded %d records, want 1", d)
	}
	ch := after.Changes()
	if after.Seq() != before.Seq()+1 || ch.From != before.Seq() || !slices.Equal(ch.Services, []string{"svc7"}) || ch.Nodes || ch.Full {
		t.Fatalf("changes = %+v (seq %d after %d)", ch, after.Seq(), before.Seq())
	}
	for _, name := range before.ServiceNames() {
		same := &before.Service(name)[0] == &after.Service(name)[0]
		if same == (name == "svc7") {
			t.Fatalf("service %s shared=%v: only the changed service is rebuilt", name, same)
		}
	}
	if len(after.ServiceNames()) != 200 || &after.ServiceNames()[0] != &before.ServiceNames()[0] {
		t.Fatal("the sorted service names are rebuilt though no service came or went")
	}
	if hooked[len(hooked)-1] != after {
		t.Fatal("OnSnapshot did not see the published snapshot")
	}
}

// TestRegisterVisibleOnReturnAfterReady: once Ready is closed, a
// registration returns only when the snapshot shows it, even right after
// Run was started in a goroutine (agent.Start; TestCatalogMetrics in
// agent once read /metrics before the catalog had the instance).
func TestRegisterVisibleOnReturnAfterReady(t *testing.T) {
	for i := range 20 {
		s := openStore(t, "self", "")
		c := start(t, Config{Node: "self", Store: s, Members: newMembers("self")})
		if err := c.Register(Definition{Name: "web", ID: fmt.Sprintf("w%d", i)}); err != nil {
			t.Fatal(err)
		}
		if n := c.Snapshot().Len(); n != 1 {
			t.Fatalf("try %d: Register returned with %d instances in the snapshot, want 1", i, n)
		}
	}
}

func TestCaseInsensitiveServiceNames(t *testing.T) {
	s := openStore(t, "self", "")
	c := start(t, Config{Node: "self", Store: s, Members: newMembers("self")})
	for _, def := range []Definition{{Name: "Web", Port: 1}, {Name: "WEB", Port: 2}, {Name: "web", ID: "third", Port: 3}} {
		if err := c.Register(def); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, wait, "three instances", func() bool { return c.Snapshot().Len() == 3 })
	snap := c.Snapshot()
	if names := snap.ServiceNames(); !slices.Equal(names, []string{"web"}) {
		t.Fatalf("services %q, want one, web", names)
	}
	for _, q := range []string{"web", "WEB", "wEb"} {
		if n := len(snap.Service(q)); n != 3 {
			t.Fatalf("Service(%q) has %d instances, want 3", q, n)
		}
	}
	// Ids keep their case: the id is the name as registered.
	if err := c.Deregister("Web"); err != nil {
		t.Fatal(err)
	}
	// A record from an agent that kept the case joins the same service.
	putRecord(t, s, "old", Definition{Name: "x", ID: "y"}, HealthPassing)
	if _, err := s.Put(context.Background(), Key("old", "z"), []byte(`{"id":"z","name":"WeB","health":"passing"}`), 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, "the old agent's record", func() bool { return len(c.Snapshot().Service("web")) == 3 })
}

func TestMalformedRecordsIgnored(t *testing.T) {
	s := openStore(t, "self", "")
	c := start(t, Config{Node: "self", Store: s, Members: newMembers("self")})
	ctx := context.Background()
	for k, v := range map[string]string{
		Key("n", "a"):    "{not json",
		Key("n", "b"):    `{"name":"bad name","health":"passing"}`,
		Key("n", "c"):    `{"name":"web","port":70000}`,
		Key("n", "d"):    `{"name":"web","address":"nope"}`,
		Prefix + "nokey": `{"name":"web"}`,
	} {
		if _, err := s.Put(ctx, k, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	putRecord(t, s, "n", Definition{Name: "web", ID: "good"}, HealthPassing)
	if _, err := s.Put(ctx, Key("n", "future"), []byte(`{"name":"web","health":"degraded"}`), 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, "the good records", func() bool { return len(c.Snapshot().Service("web")) == 2 })
	if h := health(c, "web", "n", "future"); h != HealthCritical {
		t.Fatalf("unknown health read as %s, want critical", h)
	}
	if st := c.Stats(); st.Malformed != 4 {
		t.Fatalf("malformed = %d, want 4", st.Malformed)
	}
}

func TestMembersChanged(t *testing.T) {
	s := openStore(t, "self", "")
	m := newMembers("self", "n1")
	c := start(t, Config{Node: "self", Store: s, Members: m, Refresh: time.Hour})
	putRecord(t, s, "n1", Definition{Name: "web"}, HealthPassing)
	waitFor(t, wait, "web", func() bool { return len(c.Snapshot().Service("web")) == 1 })
	if in := c.Snapshot().Service("web")[0]; !c.Snapshot().Passing(in) {
		t.Fatal("instance on an alive node not passing")
	}
	m.set("n1", StatusFailed)
	c.MembersChanged()
	waitFor(t, wait, "n1 failed in the snapshot", func() bool {
		n, _ := c.Snapshot().Node("n1")
		return n.Status == StatusFailed
	})
	snap := c.Snapshot()
	if !snap.Changes().Nodes || snap.Passing(snap.Service("web")[0]) {
		t.Fatalf("changes %+v; instance on a failed node passing", snap.Changes())
	}
	m.remove("n1")
	c.MembersChanged()
	waitFor(t, wait, "n1 gone", func() bool { _, ok := c.Snapshot().Node("n1"); return !ok })
	if snap := c.Snapshot(); snap.Passing(snap.Service("web")[0]) {
		t.Fatal("instance on an unknown node counted passing")
	}
}

// TestSerial: the serial is the newest change's time, deletes included,
// equal on two agents that hold the same records, and the same after a
// restart.
func TestSerial(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	dir := t.TempDir()
	open := func() (*configsync.Store, *Catalog, func()) {
		s, err := configsync.Open(configsync.Config{Node: "a", DataDir: dir, Clock: clk, SyncInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(Config{Node: "a", Store: s, Members: newMembers("a"), Clock: clk, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = c.Run(ctx); close(done) }()
		return s, c, func() { cancel(); <-done; s.Close() }
	}
	a, ca, stop := open()
	putRecord(t, a, "x", Definition{Name: "web"}, HealthPassing) // another node's
	waitFor(t, wait, "web", func() bool { return ca.Snapshot().Len() == 1 })
	if s1 := ca.Snapshot().Serial(); s1 != 1_700_000_000 {
		t.Fatalf("serial %d, want 1700000000 (the write's second)", s1)
	}
	clk.Advance(2 * time.Second)
	if _, err := a.Delete(context.Background(), Key("x", "web")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, wait, "the delete", func() bool { return ca.Snapshot().Len() == 0 })
	s2 := ca.Snapshot().Serial()
	if s2 != 1_700_000_002 {
		t.Fatalf("serial %d after a delete, want 1700000002", s2)
	}

	// Another agent holding the same entries agrees.
	b := openStore(t, "b", "")
	b.HandleMessage(configsync.Encode(&configsync.Update{From: "a", Entries: entries(a.Entries(""))}))
	waitFor(t, wait, "b to merge", func() bool { return len(b.Entries(Prefix)) == 1 })
	cb := start(t, Config{Node: "b", Store: b, Members: newMembers("b")})
	if got := cb.Snapshot().Serial(); got != s2 {
		t.Fatalf("b's serial %d, a's %d", got, s2)
	}

	// A restarted agent starts where it was.
	stop()
	_, ca, stop = open()
	defer stop()
	if got := ca.Snapshot().Serial(); got != s2 {
		t.Fatalf("serial after restart %d, want %d", got, s2)
	}
}

func entries(rs []configsync.Record) []configsync.Entry {
	out := make([]configsync.Entry, len(rs))
	for i, r := range rs {
		out[i] = r.Entry
	}
	return out
}

// TestIndexAndWait: the index grows with members and instances, not with
// coordinates, and Wait wakes on it.
func TestIndexAndWait(t *testing.T) {
	s := openStore(t, "self", "")
	m := newMembers("self", "n1")
	c := start(t, Config{Node: "self", Store: s, Members: m, Refresh: time.Hour})
	i0 := c.Snapshot().Index()
	m.mu.Lock()
	m.nodes[1].Coord = coordinate.NewCoordinate(coordinate.DefaultConfig())
	m.mu.Unlock()
	seq := c.Snapshot().Seq()
	c.MembersChanged()
	waitFor(t, wait, "the coordinate", func() bool { return c.Snapshot().Seq() > seq })
	if got := c.Snapshot(); got.Index() != i0 || !got.Changes().Coords {
		t.Fatalf("a coordinate moved the index %d -> %d (changes %+v)", i0, got.Index(), got.Changes())
	}
	done := make(chan uint64, 1)
	go func() {
		s, _ := c.Wait(context.Background(), i0)
		done <- s.Index()
	}()
	putRecord(t, s, "n1", Definition{Name: "web"}, HealthPassing)
	if got := <-done; got != i0+1 {
		t.Fatalf("Wait returned index %d, want %d", got, i0+1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(ctx, i0+1); err == nil {
		t.Fatal("Wait returned with nothing changing")
	}
}
