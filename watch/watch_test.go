package watch

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// fakeKV is an in-memory KV with coalescing notifications.
type fakeKV struct {
	mu    sync.Mutex
	pairs map[string]client.KVPair
	subs  map[chan struct{}]string
	lists int // List calls
}

func newFakeKV() *fakeKV {
	return &fakeKV{pairs: map[string]client.KVPair{}, subs: map[chan struct{}]string{}}
}

func (f *fakeKV) put(key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pairs[key] = client.KVPair{Key: key, Value: []byte(value), Version: value}
	f.notifyLocked(key)
}

func (f *fakeKV) del(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pairs, key)
	f.notifyLocked(key)
}

func (f *fakeKV) notifyLocked(key string) {
	for ch, prefix := range f.subs {
		if strings.HasPrefix(key, prefix) {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

func (f *fakeKV) Get(key string) (client.KVPair, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pairs[key]
	return p, ok
}

func (f *fakeKV) List(prefix string) []client.KVPair {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	var out []client.KVPair
	for k, p := range f.pairs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b client.KVPair) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func (f *fakeKV) Notify(prefix string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	f.subs[ch] = prefix
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}
}

func (f *fakeKV) listCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

// recorder is a handler script that appends each state it gets, one per
// line, to a file.
func recorder(t *testing.T) (handler []string, lines func() []string) {
	out := filepath.Join(t.TempDir(), "runs")
	handler = []string{"/bin/sh", "-c", `cat >> "$0"`, out}
	return handler, func() []string {
		b, _ := os.ReadFile(out)
		s := strings.TrimSuffix(string(b), "\n")
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func startManager(t *testing.T, b Backend, defs ...Definition) *Manager {
	t.Helper()
	m := NewManager(b, testLogger(t))
	if err := m.Set(defs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

func TestKeyWatchRunsOnChangeWithTheState(t *testing.T) {
	kv := newFakeKV()
	kv.put("app/mode", "blue")
	h, lines := recorder(t)
	m := startManager(t, Backend{KV: kv}, Definition{Type: TypeKey, Key: "app/mode", Handler: h})
	testutil.WaitFor(t, 10*time.Second, "the first run", func() bool { return len(lines()) == 1 })

	kv.put("app/mode", "green")
	testutil.WaitFor(t, 10*time.Second, "a run after the change", func() bool { return len(lines()) == 2 })
	var p client.KVPair
	if err := json.Unmarshal([]byte(lines()[1]), &p); err != nil || p.Key != "app/mode" || string(p.Value) != "green" {
		t.Fatalf("handler got %s (%v), want the pair with value green", lines()[1], err)
	}
	// A change under the same prefix that leaves this key alone, and a
	// rewrite with equal content, run nothing.
	kv.put("app/modern", "x")
	kv.put("app/mode", "green")
	kv.del("app/mode")
	testutil.WaitFor(t, 10*time.Second, "a run after the delete", func() bool { return len(lines()) == 3 })
	if got := lines()[2]; got != "null" {
		t.Fatalf("after delete the handler got %s, want null", got)
	}
	testutil.WaitFor(t, 10*time.Second, "three runs counted", func() bool { return m.Stats()[0].Runs == 3 })
	if st := m.Stats(); len(st) != 1 || st[0].Failures != 0 || st[0].Name != "key:app/mode" {
		t.Fatalf("stats %+v", st)
	}
}

func TestBurstCoalesces(t *testing.T) {
	kv := newFakeKV()
	h, lines := recorder(t)
	startManager(t, Backend{KV: kv}, Definition{Type: TypeKeyPrefix, Prefix: "app/", Handler: h, Debounce: client.Duration(50 * time.Millisecond)})
	testutil.WaitFor(t, 10*time.Second, "the first run", func() bool { return len(lines()) == 1 })
	for i := range 100 {
		kv.put("app/k", string(rune('a'+i%26))+strings.Repeat("x", i))
	}
	want := string(rune('a'+99%26)) + strings.Repeat("x", 99)
	testutil.WaitFor(t, 10*time.Second, "a run with the final state", func() bool {
		l := lines()
		var ps []client.KVPair
		return len(l) > 1 && json.Unmarshal([]byte(l[len(l)-1]), &ps) == nil && len(ps) == 1 && string(ps[0].Value) == want
	})
	if n := len(lines()) - 1; n > 5 {
		t.Fatalf("100 puts ran the handler %d times, want a few", n)
	}
}

func TestNeverConcurrentAndSlowHandlerDoesNotBlockReads(t *testing.T) {
	kv := newFakeKV()
	lock := filepath.Join(t.TempDir(), "lock")
	h, lines := recorder(t)
	// The handler fails if another copy holds the lock directory.
	script := `mkdir "$1" || exit 3; cat >> "$0"; sleep 0.3; rmdir "$1"`
	def := Definition{Type: TypeKeyPrefix, Handler: []string{"/bin/sh", "-c", script, h[3], lock}, Debounce: client.Duration(time.Millisecond)}
	m := startManager(t, Backend{KV: kv}, def)
	testutil.WaitFor(t, 10*time.Second, "the first run", func() bool { return len(lines()) == 1 })
	before := kv.listCalls()
	for i := range 20 {
		kv.put("k", strings.Repeat("v", i+1))
		testutil.WaitFor(t, 10*time.Second, "the watch reads the change", func() bool { return kv.listCalls() > before+i })
	}
	testutil.WaitFor(t, 20*time.Second, "the final state handled", func() bool {
		l := lines()
		return len(l) > 1 && strings.Contains(l[len(l)-1], `"version":"`+strings.Repeat("v", 20)+`"`)
	})
	if st := m.Stats(); st[0].Failures != 0 {
		t.Fatalf("handler ran concurrently with itself: %+v", st)
	}
}

func TestTimeoutAndFailureAreCounted(t *testing.T) {
	kv := newFakeKV()
	start := time.Now()
	m := startManager(t, Backend{KV: kv},
		Definition{Name: "slow", Type: TypeKeyPrefix, Handler: []string{"/bin/sh", "-c", "sleep 30"}, Timeout: client.Duration(200 * time.Millisecond)},
		Definition{Name: "fails", Type: TypeKeyPrefix, Handler: []string{"/bin/sh", "-c", "echo boom >&2; exit 2"}},
		Definition{Name: "missing", Type: TypeKeyPrefix, Handler: []string{"/no/such/handler"}})
	testutil.WaitFor(t, 10*time.Second, "three failed runs", func() bool {
		st := m.Stats()
		return len(st) == 3 && st[0].Failures == 1 && st[1].Failures == 1 && st[2].Failures == 1
	})
	st := m.Stats() // sorted: fails, missing, slow
	if st[2].Timeouts != 1 || st[0].Timeouts != 0 {
		t.Fatalf("stats %+v: want one timeout, of slow", st)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("a 200ms timeout took %v to kill the handler", took)
	}
}

// countingSource yields a new state on every call, and counts calls.
type countingSource struct {
	mu sync.Mutex
	n  int
}

func (s *countingSource) Next(ctx context.Context) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.n > 1 {
		time.Sleep(time.Millisecond) // a source that changes every millisecond
	}
	return s.n, nil
}

func TestSourceErrorEndsRun(t *testing.T) {
	w := NewWatch(Definition{Type: TypeMembers, Handler: []string{"true"}}, errSource{}, testLogger(t))
	if err := w.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run = %v, want ErrClosed", err)
	}
}

type errSource struct{}

func (errSource) Next(context.Context) (any, error) { return nil, ErrClosed }

func TestSetKeepsUnchangedWatches(t *testing.T) {
	kv := newFakeKV()
	h1, lines1 := recorder(t)
	h2, lines2 := recorder(t)
	a := Definition{Type: TypeKeyPrefix, Prefix: "a/", Handler: h1}
	b := Definition{Type: TypeKeyPrefix, Prefix: "b/", Handler: h2}
	m := startManager(t, Backend{KV: kv}, a)
	testutil.WaitFor(t, 10*time.Second, "a's first run", func() bool { return len(lines1()) == 1 })
	if err := m.Set([]Definition{a, b}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "b's first run", func() bool { return len(lines2()) == 1 })
	if n := len(lines1()); n != 1 {
		t.Fatalf("reload re-ran the unchanged watch: %d runs", n)
	}
	if err := m.Set([]Definition{b}); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); len(st) != 1 || st[0].Name != "keyprefix:b/" {
		t.Fatalf("after removing a: %+v", st)
	}
	kv.put("a/x", "1")
	kv.put("b/x", "1")
	testutil.WaitFor(t, 10*time.Second, "b's run", func() bool { return len(lines2()) == 2 })
	if n := len(lines1()); n != 1 {
		t.Fatalf("a removed watch ran: %d runs", n)
	}
	if err := m.Set([]Definition{{Type: "nope"}}); err == nil {
		t.Fatal("Set accepted an invalid definition")
	}
	if st := m.Stats(); len(st) != 1 {
		t.Fatalf("a refused Set changed the watches: %+v", st)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	h := []string{"/bin/true"}
	for _, tc := range []struct {
		name string
		defs []Definition
		want string
	}{
		{"no type", []Definition{{Handler: h}}, "watch[0].type: required"},
		{"bad type", []Definition{{Type: "keys", Handler: h}}, `watch[0].type: "keys"`},
		{"key without key", []Definition{{Type: TypeKey, Handler: h}}, "watch[0].key: required"},
		{"service without name", []Definition{{Type: TypeService, Handler: h}}, "watch[0].service: required"},
		{"stray field", []Definition{{Type: TypeMembers, Key: "x", Handler: h}}, "watch[0].key: not used"},
		{"passing_only", []Definition{{Type: TypeKey, Key: "k", PassingOnly: true, Handler: h}}, "watch[0].passing_only"},
		{"no handler", []Definition{{Type: TypeMembers}}, "watch[0].handler: required"},
		{"negative timeout", []Definition{{Type: TypeMembers, Handler: h, Timeout: -1}}, "watch[0].timeout"},
		{"duplicate", []Definition{{Type: TypeMembers, Handler: h}, {Type: TypeMembers, Handler: []string{"x"}}}, `watch[1].name: "members" is already used by watch[0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateAll(tc.defs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ValidateAll = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if err := ValidateAll([]Definition{{Type: TypeKeyPrefix, Handler: h}, {Type: TypeService, Service: "web", PassingOnly: true, Handler: h}}); err != nil {
		t.Fatal(err)
	}
}

func TestSourceIsReadWhileHandlerRuns(t *testing.T) {
	src := &countingSource{}
	w := NewWatch(Definition{Type: TypeMembers, Handler: []string{"/bin/sh", "-c", "sleep 0.5"}}, src, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	testutil.WaitFor(t, 10*time.Second, "many reads during the first run", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.n > 50 && w.Stats().Runs == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
