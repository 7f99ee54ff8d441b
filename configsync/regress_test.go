package configsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/clock"
)

// Regression tests for the defects of issue 9, one per defect. Each uses
// only the API that existed when the defect was found, so it can be run
// against that code and seen to fail.

var regressT0 = time.Unix(1_700_000_000, 0)

func regressStore(t *testing.T, dir string, clk clock.Clock) *Store {
	t.Helper()
	s, err := Open(Config{Node: "n1", DataDir: dir, Clock: clk, TombstoneTTL: time.Hour, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hourState is a State with a one-hour tombstone TTL.
func hourState(t *testing.T, node string) *State {
	t.Helper()
	st, err := NewState(StateConfig{Node: node, TombstoneTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func forgedUpdate(key, value string, v Version) []byte {
	return Encode(&Update{From: "mallory", Entries: []Entry{{Key: key, Value: []byte(value), Version: v}}})
}

// A far-future version (wall MaxInt64, logical MaxUint32) made the key
// unwritable: the next local write wrapped the clock and was acknowledged
// but lost.
func TestRegressFarFutureUpdateDoesNotPin(t *testing.T) {
	fake := clock.NewFake(regressT0)
	s := regressStore(t, t.TempDir(), fake)
	defer s.Close()
	s.process(forgedUpdate("k", "evil", Version{Wall: math.MaxInt64, Logical: math.MaxUint32, Node: "mallory"}))
	r, err := s.Put(context.Background(), "k", []byte("good"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("k")
	if err != nil || string(got.Value) != "good" {
		t.Fatalf("after a forged far-future update, Put acknowledged %v but Get = %q, %v", r.Version, got.Value, err)
	}
	if r.Version.Wall != regressT0.UnixMilli() {
		t.Fatalf("put stamped %v, want the current time %d", r.Version, regressT0.UnixMilli())
	}
}

// A version a year ahead dragged every later write a year forward, and
// the clock was persisted, so a restart did not undo it.
func TestRegressYearAheadDoesNotDrag(t *testing.T) {
	dir := t.TempDir()
	fake := clock.NewFake(regressT0)
	s := regressStore(t, dir, fake)
	yearAhead := regressT0.Add(365 * 24 * time.Hour).UnixMilli()
	s.process(forgedUpdate("k", "evil", Version{Wall: yearAhead, Node: "mallory"}))
	r, err := s.Put(context.Background(), "other", []byte("x"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version.Wall != regressT0.UnixMilli() {
		t.Fatalf("write after a year-ahead version stamped %v, want %d", r.Version, regressT0.UnixMilli())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = regressStore(t, dir, fake)
	defer s.Close()
	fake.Advance(time.Second)
	r, err = s.Put(context.Background(), "k", []byte("good"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := regressT0.Add(time.Second).UnixMilli(); r.Version.Wall != want {
		t.Fatalf("write after restart stamped %v, want %d", r.Version, want)
	}
	if got, _ := s.Get("k"); string(got.Value) != "good" {
		t.Fatalf("Get(k) = %q after restart, want the put", got.Value)
	}
}

// entryHash did not cover the value: replicas holding the same version
// with different content had equal digests and never converged.
func TestRegressEqualVersionsDifferentContentConverge(t *testing.T) {
	now := regressT0.UnixMilli()
	a, b := newState(t, "a"), newState(t, "b")
	v := Version{Wall: now - 1000, Node: "c"}
	a.Merge([]Entry{{Key: "k", Value: []byte("one"), Version: v}}, now)
	b.Merge([]Entry{{Key: "k", Value: []byte("two"), Version: v}}, now)
	exchange(t, a, b, now)
	ra, _ := a.Get("k")
	rb, _ := b.Get("k")
	if !bytes.Equal(ra.Value, rb.Value) {
		t.Fatalf("after a sync a holds %q and b %q at the same version", ra.Value, rb.Value)
	}
}

// A Reject was trusted blindly: one naming a far-future version dropped
// the key and marked it, so later writes of it were refused.
func TestRegressForgedRejectIgnored(t *testing.T) {
	now := regressT0.UnixMilli()
	st := newState(t, "n1")
	if _, err := st.Put("k", []byte("v"), 0, now); err != nil {
		t.Fatal(err)
	}
	far := Version{Wall: now + 365*24*3600*1000, Node: "mallory"}
	st.Step(&Reject{From: "mallory", Items: []KeyVersion{{Key: "k", Version: far}}}, now)
	if _, ok := st.Get("k"); !ok {
		t.Fatal("a forged Reject with a far-future version dropped the key")
	}
	st.Step(&Reject{From: "mallory", Items: []KeyVersion{{Key: "new", Version: far}}}, now)
	res := st.Merge([]Entry{{Key: "new", Value: []byte("x"), Version: Version{Wall: now + 1, Node: "peer"}}}, now)
	if len(res.Accepted) != 1 {
		t.Fatalf("after a forged Reject, a current write of the key was refused: %+v", res)
	}
}

// A joiner with floor 0 accepted a stale copy of a collected key from a
// node that had been away for longer than the TTL.
func TestRegressJoinerAdoptsFloor(t *testing.T) {
	ttl := time.Hour
	t0 := regressT0.UnixMilli()
	mk := func(node string) *State { return hourState(t, node) }
	a, stale, joiner := mk("a"), mk("stale"), mk("joiner")
	r, _ := a.Put("gone", []byte("v"), 0, t0)
	stale.Merge([]Entry{r.Entry}, t0) // then stale goes away
	a.Delete("gone", t0+1000)
	now := t0 + ttl.Milliseconds() + 5000
	if n := len(a.GC(now)); n != 1 || a.Floor().IsZero() {
		t.Fatalf("GC collected %d, floor %v", n, a.Floor())
	}
	// The joiner joins through a: push/pull with it first.
	sum := a.Summary()
	joiner.Step(&sum, now)
	// Then the stale node sends it everything it has.
	out := joiner.Step(&SyncEntries{From: "stale", Entries: []Entry{r.Entry}}, now)
	if _, ok := joiner.Get("gone"); ok {
		t.Fatalf("joiner accepted a stale copy of a collected key (floor %v, output %+v)", joiner.Floor(), out)
	}
	if len(out.Replies) != 0 {
		t.Fatalf("joiner rejected before it held a's data: %+v", out.Replies)
	}
	// a's full transfer completes: the joiner takes a's floor and now
	// rejects the stale copy, so the stale node drops it.
	for _, c := range transferAll(a, "joiner") {
		m, _ := Decode(c.data)
		joiner.Step(m, now)
	}
	if joiner.Floor() != a.Floor() {
		t.Fatalf("joiner floor %v after a's transfer, want %v", joiner.Floor(), a.Floor())
	}
	out = joiner.Step(&SyncEntries{From: "stale", Entries: []Entry{r.Entry}}, now)
	if len(out.Replies) != 1 || out.Replies[0].Kind() != KindReject {
		t.Fatalf("joiner did not reject the stale copy after the transfer: %+v", out)
	}
	if rm := stale.Step(out.Replies[0], now); len(rm.Removed) != 1 {
		t.Fatalf("stale node did not drop its copy on the joiner's Reject: %+v", rm)
	}
}

// A joiner never rejects a legitimate old key it merely lacks (it would
// make the holders drop it): only its source's complete transfer gives
// it a floor.
func TestJoinerKeepsOldKeys(t *testing.T) {
	ttl := time.Hour
	t0 := regressT0.UnixMilli()
	mk := func(node string) *State { return hourState(t, node) }
	a, b, joiner := mk("a"), mk("b"), mk("joiner")
	old, _ := a.Put("old", []byte("v"), 0, t0)
	joiner.MarkEmpty(t0 + ttl.Milliseconds() + 4000) // a new agent's store
	b.Merge([]Entry{old.Entry}, t0)
	a.Put("gone", []byte("v"), 0, t0+10)
	a.Delete("gone", t0+20)
	now := t0 + ttl.Milliseconds() + 5000
	a.GC(now)
	if a.Floor().Compare(old.Version) <= 0 {
		t.Fatal("setup: the floor must cover the old key")
	}
	sum := a.Summary()
	joiner.Step(&sum, now)
	out := joiner.Step(&SyncEntries{From: "b", Entries: []Entry{old.Entry}}, now)
	if len(out.Replies) != 0 {
		t.Fatalf("the joiner rejected an old key from b: %+v", out.Replies)
	}
	exchange(t, a, joiner, now)
	if _, ok := joiner.Get("old"); !ok {
		t.Fatal("the joiner lacks the old key after a's transfer")
	}
}

// Random byte flips in configsync.db crashed the process (SIGSEGV in
// bbolt or decodeRecord). Every flip must be either harmless (every key
// reads back as written) or an error wrapping ErrCorrupt naming the file.
func TestRegressByteFlipsNeverCrash(t *testing.T) {
	src := t.TempDir()
	s := regressStore(t, src, nil)
	want := map[string]string{}
	for i := range 300 {
		k, v := fmt.Sprintf("app/%03d", i), strings.Repeat(fmt.Sprint(i), 1+i%40)
		if _, err := s.Put(context.Background(), k, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	for i := range 20 {
		s.Delete(context.Background(), fmt.Sprintf("app/%03d", i))
		delete(want, fmt.Sprintf("app/%03d", i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(filepath.Join(src, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	seeds := 300
	if testing.Short() {
		seeds = 60
	}
	base := uint64(time.Now().UnixNano())
	corrupt := 0
	for i := range seeds {
		seed := base + uint64(i)
		rng := rand.New(rand.NewPCG(seed, 9))
		b := bytes.Clone(orig)
		flips := 1 + rng.IntN(8)
		for range flips {
			off := 2*4096 + rng.IntN(len(b)-2*4096) // past the two meta pages
			b[off] ^= byte(1 + rng.IntN(255))
		}
		dir := t.TempDir()
		path := filepath.Join(dir, DBFile)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := Open(Config{Node: "n1", DataDir: dir})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("seed %d: error %v does not wrap ErrCorrupt or name %s", seed, err, path)
			}
			corrupt++
			continue
		}
		for k, v := range want {
			r, err := st.Get(k)
			if err != nil || string(r.Value) != v {
				st.Close()
				t.Fatalf("seed %d: a flip was not detected: Get(%s) = %q, %v; want %q", seed, k, r.Value, err, v)
			}
		}
		if n := len(st.Keys("")); n != len(want) {
			t.Fatalf("seed %d: %d keys after flips, want %d", seed, n, len(want))
		}
		// The store stays writable.
		if _, err := st.Put(context.Background(), "after", []byte("x"), 0); err != nil {
			t.Fatalf("seed %d: put after flips: %v", seed, err)
		}
		st.Close()
	}
	t.Logf("%d of %d flipped files reported corrupt, the rest harmless", corrupt, seeds)
}

// A 0-byte configsync.db started silently empty.
func TestRegressEmptiedStoreRefused(t *testing.T) {
	dir := t.TempDir()
	s := regressStore(t, dir, nil)
	s.Put(context.Background(), "k", []byte("v"), 0)
	s.Close()
	path := filepath.Join(dir, DBFile)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	st, err := Open(Config{Node: "n1", DataDir: dir})
	if err == nil {
		st.Close()
		t.Fatal("a store truncated to 0 bytes opened (silently empty)")
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v does not name %s", err, path)
	}
}

// A value edited in place was served without error.
func TestRegressEditedValueDetected(t *testing.T) {
	dir := t.TempDir()
	s := regressStore(t, dir, nil)
	s.Put(context.Background(), "app/key", []byte("value-AAAAAAAAAAAAAAAA"), 0)
	s.Close()
	path := filepath.Join(dir, DBFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("value-AAAAAAAAAAAAAAAA"))
	if i < 0 {
		t.Fatal("value not found in the file")
	}
	b[i+6] = 'B'
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Open(Config{Node: "n1", DataDir: dir})
	if err == nil {
		r, _ := st.Get("app/key")
		st.Close()
		t.Fatalf("an edited value was served: %q", r.Value)
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "app/key") {
		t.Fatalf("error %v: want ErrCorrupt naming %s and the key", err, path)
	}
}

// A full transfer to a new node was enqueued at once against the outbox
// and cut short silently.
func TestRegressFullTransferPaced(t *testing.T) {
	checkLeaks(t)
	h := newHub(11)
	small := Config{OutboxBytes: 256 << 10, OutboxMessages: 8, ChunkBytes: 16 << 10}
	cfg := small
	cfg.Node = "old"
	old := startStore(t, h, cfg)
	val := bytes.Repeat([]byte("v"), 1000)
	for i := range 3000 {
		if _, err := old.Put(context.Background(), fmt.Sprintf("k%05d", i), val, 0); err != nil {
			t.Fatal(err)
		}
	}
	cfg = small
	cfg.Node = "new"
	nw := startStore(t, h, cfg)
	h.pushPull(old, nw)
	eventually(t, "full transfer", func() bool { return nw.Stats().Keys == 3000 })
	if d := old.Stats().OutboxDropped; d != 0 {
		t.Fatalf("%d messages dropped from the outbox during a full transfer", d)
	}
}
