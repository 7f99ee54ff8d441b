package configsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/murmurhq/murmur/internal/clock"
)

// hub is an in-memory cluster network for threaded Store tests. Broadcasts
// are delivered at once to every peer (a perfect gossip) unless dropped;
// Send fails across a partition.
type hub struct {
	mu      sync.Mutex
	stores  map[string]*Store
	rng     *rand.Rand
	dropAll bool           // gossip and forwards are lost
	group   map[string]int // partition
	sends   int
	// failSends makes the next failSends reliable sends fail.
	failSends int
}

func newHub(seed uint64) *hub {
	return &hub{stores: map[string]*Store{}, rng: rand.New(rand.NewPCG(seed, 1)), group: map[string]int{}}
}

type memTransport struct {
	h    *hub
	self string
}

func (h *hub) targets(self, except string, k int) []*Store {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dropAll {
		return nil
	}
	var out []*Store
	for name, s := range h.stores {
		if name != self && name != except && h.group[name] == h.group[self] {
			out = append(out, s)
		}
	}
	h.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if k >= 0 && len(out) > k {
		out = out[:k]
	}
	return out
}

func (t memTransport) Broadcast(key string, msg []byte, local bool) {
	for _, s := range t.h.targets(t.self, "", -1) {
		s.HandleMessage(msg)
	}
}

func (t memTransport) Forward(msg []byte, fanout int, except string) {
	for _, s := range t.h.targets(t.self, except, fanout) {
		s.HandleMessage(msg)
	}
}

func (t memTransport) Send(node string, msg []byte) error {
	t.h.mu.Lock()
	s, ok := t.h.stores[node]
	same := t.h.group[node] == t.h.group[t.self]
	t.h.sends++
	fail := t.h.failSends > 0
	if fail {
		t.h.failSends--
	}
	t.h.mu.Unlock()
	if fail {
		return fmt.Errorf("simulated connection failure to %s", node)
	}
	if !ok || !same {
		return fmt.Errorf("no route to %s", node)
	}
	s.HandleMessage(msg)
	return nil
}

// pushPull is one memberlist push/pull between a and b.
func (h *hub) pushPull(a, b *Store) {
	h.mu.Lock()
	same := h.group[a.Node()] == h.group[b.Node()]
	h.mu.Unlock()
	if !same {
		return
	}
	b.MergeRemoteState(a.LocalState(false), false)
	a.MergeRemoteState(b.LocalState(false), false)
}

// testLogger logs through t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startStore opens and runs a store; cleanup stops and closes it.
func startStore(t testing.TB, h *hub, cfg Config) *Store {
	t.Helper()
	return startStoreEnding(t, h, cfg, nil)
}

// startStoreEnding is startStore for a store whose Run and Close are to
// end with an error that is stopErr (nil: with none).
func startStoreEnding(t testing.TB, h *hub, cfg Config, stopErr error) *Store {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if h != nil {
		cfg.Transport = memTransport{h: h, self: cfg.Node}
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = -1 // tests that count syncs want no periodic probe
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if h != nil {
		h.mu.Lock()
		h.stores[cfg.Node] = s
		h.mu.Unlock()
	}
	ends := func(err error) bool {
		if stopErr == nil {
			return err == nil
		}
		return errors.Is(err, stopErr)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; !ends(err) {
			t.Errorf("Run: %v (want %v)", err, stopErr)
		}
		if err := s.Close(); !ends(err) {
			t.Errorf("Close: %v (want %v)", err, stopErr)
		}
	})
	return s
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not a wait for an event
	}
}

func allHave(stores []*Store, key string, value []byte) func() bool {
	return func() bool {
		for _, s := range stores {
			r, err := s.Get(key)
			if value == nil {
				if !errors.Is(err, ErrNotFound) {
					return false
				}
				continue
			}
			if err != nil || !bytes.Equal(r.Value, value) {
				return false
			}
		}
		return true
	}
}

func sameRoots(stores []*Store) func() bool {
	return func() bool {
		r := stores[0].Summary().Root
		for _, s := range stores[1:] {
			if s.Summary().Root != r {
				return false
			}
		}
		return true
	}
}

func TestStoreReplicatesByGossip(t *testing.T) {
	checkLeaks(t)
	h := newHub(1)
	var stores []*Store
	for i := range 5 {
		stores = append(stores, startStore(t, h, Config{Node: fmt.Sprintf("n%d", i), GossipBudget: 1100}))
	}
	ctx := context.Background()
	r, err := stores[0].Put(ctx, "app/x", []byte("1"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if r.Index == 0 || r.Flags != 5 || r.Version.Node != "n0" {
		t.Fatalf("Put returned %+v", r)
	}
	eventually(t, "gossip of a small value", allHave(stores, "app/x", []byte("1")))

	big := bytes.Repeat([]byte("B"), 64<<10) // announced and fetched
	if _, err := stores[1].Put(ctx, "app/big", big, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "announce+fetch of a big value", allHave(stores, "app/big", big))

	if _, err := stores[2].Delete(ctx, "app/x"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delete", allHave(stores, "app/x", nil))
	eventually(t, "equal digests", sameRoots(stores))
	st := stores[0].Stats()
	if st.Received[KindUpdate].Messages == 0 || st.Sent[KindFetch].Messages+stores[3].Stats().Sent[KindFetch].Messages == 0 {
		t.Fatalf("stats do not show the traffic: %+v", st)
	}
}

func TestStoreAntiEntropyAfterPartition(t *testing.T) {
	checkLeaks(t)
	h := newHub(2)
	var stores []*Store
	for i := range 4 {
		stores = append(stores, startStore(t, h, Config{Node: fmt.Sprintf("n%d", i)}))
	}
	ctx := context.Background()
	h.mu.Lock()
	h.dropAll = true // all gossip lost: only push/pull can repair
	h.group["n2"], h.group["n3"] = 1, 1
	h.mu.Unlock()
	for i := range 50 {
		stores[i%4].Put(ctx, fmt.Sprintf("k/%d", i), []byte(fmt.Sprint(i)), 0)
	}
	// Concurrent writes on both sides: the greater version must win.
	w0, _ := stores[0].Put(ctx, "conflict", []byte("side0"), 0)
	w3, _ := stores[3].Put(ctx, "conflict", []byte("side1"), 0)
	winner := Merge(w0.Entry, w3.Entry).Value
	h.mu.Lock()
	clear(h.group)
	h.mu.Unlock()
	eventually(t, "anti-entropy convergence", func() bool {
		for i := range stores {
			for j := range stores {
				if i < j {
					h.pushPull(stores[i], stores[j])
				}
			}
		}
		return sameRoots(stores)()
	})
	if !allHave(stores, "conflict", winner)() {
		t.Fatal("last writer did not win")
	}
	for _, s := range stores {
		if n := len(s.Keys("k/")); n != 50 {
			t.Fatalf("%s has %d keys", s.Node(), n)
		}
	}
}

func TestStoreJoinGetsEverything(t *testing.T) {
	checkLeaks(t)
	h := newHub(3)
	old := startStore(t, h, Config{Node: "old", ChunkBytes: 64 << 10})
	ctx := context.Background()
	for i := range 3000 {
		if _, err := old.Put(ctx, fmt.Sprintf("cfg/%05d", i), bytes.Repeat([]byte{'v'}, 100), 0); err != nil {
			t.Fatal(err)
		}
	}
	old.Delete(ctx, "cfg/00001")
	joiner := startStore(t, h, Config{Node: "new"})
	h.pushPull(joiner, old) // memberlist join push/pull
	eventually(t, "full transfer", sameRoots([]*Store{old, joiner}))
	if got := len(joiner.Keys("cfg/")); got != 2999 {
		t.Fatalf("joiner has %d keys", got)
	}
	if st := old.Stats(); st.Sent[KindSyncEntries].Messages < 4 || st.Syncs != 1 {
		t.Fatalf("expected one chunked full transfer, got %+v", st)
	}
}

func TestStoreWaitAndSubscribe(t *testing.T) {
	checkLeaks(t)
	s := startStore(t, nil, Config{Node: "n"})
	ctx := context.Background()
	s.Put(ctx, "svc/a", []byte("1"), 0)
	base := s.IndexOf("svc/")

	// An index already passed answers at once.
	if idx, err := s.Wait(ctx, "svc/", base-1); err != nil || idx != base {
		t.Fatalf("Wait(base-1) = %d, %v", idx, err)
	}

	sub := s.Subscribe("svc/")
	defer sub.Close()

	// A change elsewhere does not end the wait.
	wctx, cancel := context.WithCancel(ctx)
	got := make(chan error, 1)
	var gotIdx uint64
	go func() {
		var err error
		gotIdx, err = s.Wait(wctx, "svc/", base)
		got <- err
	}()
	s.Put(ctx, "other", []byte("x"), 0)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) || gotIdx != base {
		t.Fatalf("Wait woke on another prefix: %d, %v", gotIdx, err)
	}
	select {
	case <-sub.C():
		t.Fatal("subscription fired for another prefix")
	default:
	}

	// A change under the prefix does.
	go func() {
		var err error
		gotIdx, err = s.Wait(ctx, "svc/", base)
		got <- err
	}()
	r, _ := s.Put(ctx, "svc/b", []byte("2"), 0)
	if err := <-got; err != nil || gotIdx < r.Index {
		t.Fatalf("Wait = %d, %v; want ≥ %d", gotIdx, err, r.Index)
	}

	// Notifications coalesce: many changes, one pending signal.
	for i := range 10 {
		s.Put(ctx, fmt.Sprintf("svc/c%d", i), nil, 0)
	}
	<-sub.C()
	select {
	case <-sub.C():
		t.Fatal("more than one coalesced notification pending")
	default:
	}
	if sub.Index() != s.IndexOf("svc/") {
		t.Fatalf("subscription index %d, store %d", sub.Index(), s.IndexOf("svc/"))
	}

	// A deadline ends the wait with the current index.
	dctx, dcancel := context.WithTimeout(ctx, time.Millisecond)
	defer dcancel()
	if idx, err := s.Wait(dctx, "svc/", s.Index()+100); !errors.Is(err, context.DeadlineExceeded) || idx != s.IndexOf("svc/") {
		t.Fatalf("Wait past deadline = %d, %v", idx, err)
	}
}

func TestStoreWaitWakesOnRemoteChangeAndClose(t *testing.T) {
	checkLeaks(t)
	h := newHub(4)
	a := startStore(t, h, Config{Node: "a"})
	b := startStore(t, h, Config{Node: "b"})
	ctx := context.Background()
	got := make(chan uint64, 1)
	base := b.IndexOf("cfg/")
	go func() {
		idx, _ := b.Wait(ctx, "cfg/", base)
		got <- idx
	}()
	a.Put(ctx, "cfg/x", []byte("1"), 0)
	if idx := <-got; idx == 0 {
		t.Fatal("Wait returned index 0")
	}
	// Close ends waits.
	c, err := Open(Config{Node: "c"})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Wait(ctx, "", 100)
		errc <- err
	}()
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
	if _, err := c.Put(ctx, "k", nil, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if err := c.Run(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
}

func TestStoreBadInputChangesNothing(t *testing.T) {
	s, err := Open(Config{Node: "n", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	s.Put(ctx, "keep", []byte("v"), 0)
	before := s.Stats()
	tests := []struct {
		name  string
		key   string
		value []byte
		want  error
	}{
		{"empty key", "", nil, ErrInvalidKey},
		{"control", "a\tb", nil, ErrInvalidKey},
		{"invalid utf8", "\xc3\x28", nil, ErrInvalidKey},
		{"long key", strings.Repeat("x", 513), nil, ErrKeyTooLarge},
		{"big value", "k", make([]byte, 512<<10+1), ErrValueTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Put(ctx, tc.key, tc.value, 0); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := s.Delete(ctx, "absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete(absent) = %v", err)
	}
	if _, err := s.Get("absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(absent) = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cctx, "k", nil, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with cancelled ctx = %v", err)
	}
	after := s.Stats()
	if after.Index != before.Index || after.Root != before.Root || after.Clock != before.Clock {
		t.Fatal("rejected writes changed the store")
	}
	// Garbage from the network is counted and dropped, never applied.
	for _, m := range [][]byte{nil, {1}, {1, 99, 0}, {9, 1, 0}, bytes.Repeat([]byte{0xff}, 100)} {
		s.HandleMessage(m)
	}
	s.process([]byte{1, byte(KindUpdate), 5})
	if st := s.Stats(); st.Malformed < 2 || st.Index != before.Index {
		t.Fatalf("malformed not counted or applied: %+v", st)
	}
}

func TestStoreInboxDropsWhenFull(t *testing.T) {
	s, err := Open(Config{Node: "n", InboxMessages: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := Encode(&Update{From: "p", Entries: []Entry{{Key: "k", Version: Version{Wall: 1, Node: "p"}}}})
	for range 5 {
		s.HandleMessage(msg) // not running: nothing drains the inbox
	}
	if st := s.Stats(); st.InboxDropped != 3 {
		t.Fatalf("dropped %d, want 3", st.InboxDropped)
	}
}

func TestStoreGCOnFakeClock(t *testing.T) {
	checkLeaks(t)
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := startStore(t, nil, Config{Node: "n", Clock: fake, TombstoneTTL: time.Hour, GCInterval: time.Minute})
	ctx := context.Background()
	s.Put(ctx, "k", []byte("v"), 0)
	s.Delete(ctx, "k")
	if st := s.Stats(); st.Tombstones != 1 {
		t.Fatalf("tombstones = %d", st.Tombstones)
	}
	eventually(t, "GC ticker armed", func() bool { return fake.Waiters() >= 1 })
	fake.Advance(59 * time.Minute)
	if st := s.Stats(); st.Tombstones != 1 {
		t.Fatal("collected before the TTL")
	}
	eventually(t, "tombstone collected", func() bool {
		fake.Advance(time.Minute)
		return s.Stats().Tombstones == 0
	})
	if s.Stats().Floor.IsZero() {
		t.Fatal("no floor after GC")
	}
}

func TestStoreSkewIsReported(t *testing.T) {
	checkLeaks(t)
	h := newHub(5)
	fast := startStore(t, h, Config{Node: "fast", Clock: clock.Offset{By: 30 * time.Second}})
	slow := startStore(t, h, Config{Node: "slow"})
	fr, _ := fast.Put(context.Background(), "k", []byte("v"), 0)
	eventually(t, "replication", allHave([]*Store{slow}, "k", []byte("v")))
	st := slow.Stats()
	if st.MaxSkewMs < int64(29*time.Second/time.Millisecond) {
		t.Fatalf("skew %dms not reported", st.MaxSkewMs)
	}
	// Within the bound, the slow node's next write still wins: its clock
	// was dragged forward.
	sr, _ := slow.Put(context.Background(), "k", []byte("later"), 0)
	if !sr.Version.after(fr.Version) {
		t.Fatalf("write after observing %v got %v", fr.Version, sr.Version)
	}
}

// Beyond kv.max_clock_skew a peer's versions are refused, counted and
// logged with the origin and the skew; they move no clock.
func TestStoreSkewBeyondBoundRefused(t *testing.T) {
	checkLeaks(t)
	h := newHub(6)
	var logs bytes.Buffer
	var mu sync.Mutex
	fast := startStore(t, h, Config{Node: "fast", Clock: clock.Offset{By: time.Hour}})
	slow := startStore(t, h, Config{Node: "slow", Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
	if _, err := fast.Put(context.Background(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "refusal", func() bool { return slow.Stats().SkewRejected > 0 })
	if _, err := slow.Get("k"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a version an hour ahead was applied")
	}
	r, _ := slow.Put(context.Background(), "other", []byte("x"), 0)
	if lead := r.Version.Wall - time.Now().UnixMilli(); lead > 10_000 {
		t.Fatalf("the slow node's clock was dragged %dms ahead", lead)
	}
	mu.Lock()
	log := logs.String()
	mu.Unlock()
	if !strings.Contains(log, "origin=fast") || !strings.Contains(log, "skew=") || !strings.Contains(log, "max_clock_skew") {
		t.Fatalf("log does not name the origin and skew:\n%s", log)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no node", Config{}, "node name is empty"},
		{"bad limits", Config{Node: "n", Limits: Limits{MaxKeyBytes: -1, MaxValueBytes: 1}}, "kv.max_key_bytes"},
		{"small budget", Config{Node: "n", GossipBudget: 100}, "gossip budget"},
		{"negative ttl", Config{Node: "n", TombstoneTTL: -time.Second}, "tombstone TTL"},
		{"tiny chunk", Config{Node: "n", ChunkBytes: 10}, "chunk size"},
		{"negative workers", Config{Node: "n", SendWorkers: -1}, "send workers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
			if _, err := Open(tc.cfg); err == nil {
				t.Fatal("Open accepted it")
			}
		})
	}
	if err := (Config{Node: "n"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// checkLeaks verifies, after every other cleanup (stores stopped), that
// no goroutine is left behind.
func checkLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// TestSyncSurvivesFailedSends: reliable sends that fail (a lost SYN under
// packet loss) are retried, so a sync session still completes.
func TestSyncSurvivesFailedSends(t *testing.T) {
	h := newHub(7)
	a := startStore(t, h, Config{Node: "a"})
	b := startStore(t, h, Config{Node: "b"})
	h.mu.Lock()
	h.dropAll = true // no gossip: only the sync can carry the keys
	h.mu.Unlock()
	for i := 0; i < 50; i++ {
		if _, err := a.Put(context.Background(), fmt.Sprintf("k%02d", i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	h.mu.Lock()
	h.failSends = 2 // the first two attempts of the session's first send fail
	h.mu.Unlock()
	h.pushPull(a, b)
	eventually(t, "b to receive all 50 keys in one session", func() bool { return len(b.Keys("")) == 50 })
	if e := b.Stats().SendErrors + a.Stats().SendErrors; e != 2 {
		t.Fatalf("send errors = %d, want the 2 injected", e)
	}
}

// TestProbeRepairsOneWay: a one-way probe makes the receiver sync
// whichever node name is smaller, and pulls everything into an empty
// receiver, so an update that gossip missed is repaired without a
// push/pull.
func TestProbeRepairsOneWay(t *testing.T) {
	h := newHub(9)
	a := startStore(t, h, Config{Node: "a"})
	z := startStore(t, h, Config{Node: "z"})
	h.mu.Lock()
	h.dropAll = true // gossip and forwards lost
	h.mu.Unlock()
	ctx := context.Background()
	if _, err := a.Put(ctx, "only/on/a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	// z is empty: a's probe makes z answer with its summary, and a sends all.
	z.HandleMessage(a.Probe())
	eventually(t, "z to pull from a", func() bool { return len(z.Keys("")) == 1 })
	// Both non-empty, z's name is larger: z still starts the sync on a probe.
	if _, err := a.Put(ctx, "second", []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	z.HandleMessage(a.Probe())
	eventually(t, "z to sync from a's probe", func() bool { return len(z.Keys("")) == 2 })
	// And the other way: a's probe to z when z has something new.
	if _, err := z.Put(ctx, "from/z", []byte("3"), 0); err != nil {
		t.Fatal(err)
	}
	a.HandleMessage(z.Probe())
	eventually(t, "a to sync from z's probe", func() bool { return len(a.Keys("")) == 3 })
	// In sync, a probe starts nothing.
	before := a.Stats().Syncs + z.Stats().Syncs
	z.HandleMessage(a.Probe())
	a.HandleMessage(z.Probe())
	if got := a.Stats().Syncs + z.Stats().Syncs; got != before {
		t.Fatalf("probes between stores in sync started %d syncs", got-before)
	}
}
