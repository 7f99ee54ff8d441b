package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/testutil"
)

// fakeNet delivers frames between Queries in one process, synchronously
// (HandleMessage never blocks), unless drop says to lose one.
type fakeNet struct {
	mu    sync.Mutex
	nodes map[string]*Queries
	// drop, when set, loses a frame (the sender sees success, as with a
	// UDP packet or a stream the receiver dropped); guarded by mu.
	drop func(from, to string, reliable bool) bool
}

type fakeMember struct {
	n    *fakeNet
	name string
}

func (m fakeMember) Members() []string {
	m.n.mu.Lock()
	defer m.n.mu.Unlock()
	var out []string
	for name := range m.n.nodes {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (m fakeMember) Send(node string, frame []byte, reliable bool) error {
	m.n.mu.Lock()
	to, drop := m.n.nodes[node], m.n.drop
	m.n.mu.Unlock()
	if to == nil {
		return fmt.Errorf("unknown node %s", node)
	}
	if drop != nil && drop(m.name, node, reliable) {
		return nil
	}
	to.HandleMessage(frame)
	return nil
}

func (n *fakeNet) setDrop(f func(from, to string, reliable bool) bool) {
	n.mu.Lock()
	n.drop = f
	n.mu.Unlock()
}

// cluster starts one Queries per name, each with register applied, and
// runs them until the test ends.
func cluster(t *testing.T, names []string, register func(name string, q *Queries)) (*fakeNet, map[string]*Queries) {
	t.Helper()
	n := &fakeNet{nodes: map[string]*Queries{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, name := range names {
		q := New(Config{Node: name, Cluster: fakeMember{n, name}, Logger: slog.New(slog.DiscardHandler)})
		register(name, q)
		n.nodes[name] = q
	}
	for _, q := range n.nodes {
		wg.Go(func() { _ = q.Run(ctx) })
	}
	return n, n.nodes
}

const kindEcho Kind = 'e'

func echo(name string) Handler {
	return func(from string, question []byte) ([]byte, error) {
		return []byte(name + ":" + string(question)), nil
	}
}

func TestAskEveryMember(t *testing.T) {
	for _, reliable := range []bool{false, true} {
		t.Run(fmt.Sprintf("reliable=%v", reliable), func(t *testing.T) {
			net, qs := cluster(t, []string{"a", "b", "c"}, func(name string, q *Queries) {
				q.Handle(kindEcho, echo(name), Options{Reliable: reliable})
			})
			res, err := qs["a"].Ask(context.Background(), kindEcho, []byte("hi"), 5*time.Second)
			if err != nil || len(res) != 3 {
				t.Fatalf("%v %v", res, err)
			}
			for _, n := range []string{"a", "b", "c"} {
				if string(res[n].Answer) != n+":hi" || res[n].Err != nil {
					t.Errorf("%s answered %q %v", n, res[n].Answer, res[n].Err)
				}
			}
			// A member that does not answer is named, with the reason.
			net.setDrop(func(from, to string, _ bool) bool { return to == "c" })
			res, _ = qs["a"].Ask(context.Background(), kindEcho, []byte("x"), 100*time.Millisecond)
			if !errors.Is(res["c"].Err, ErrNoAnswer) || !strings.Contains(res["c"].Err.Error(), "100ms") || res["b"].Err != nil {
				t.Fatalf("c silent: %v", res)
			}
		})
	}
}

// A reliable request lost on its way is sent again halfway through the
// timeout; with a window, a member that answered once answers the repeat
// with its first answer and never runs the handler twice.
func TestReliableResendAnsweredOnce(t *testing.T) {
	var runs atomic.Int32
	net, qs := cluster(t, []string{"a", "b"}, func(name string, q *Queries) {
		q.Handle(kindEcho, func(from string, question []byte) ([]byte, error) {
			if name == "b" {
				runs.Add(1)
			}
			return []byte(name), nil
		}, Options{Reliable: true, Window: time.Minute})
	})
	var lost atomic.Int32
	net.setDrop(func(from, to string, _ bool) bool {
		// The first answer of b is lost: a then resends, and b answers the
		// repeat from its memory.
		return from == "b" && lost.Add(1) == 1
	})
	res, err := qs["a"].Ask(context.Background(), kindEcho, nil, 2*time.Second)
	if err != nil || string(res["b"].Answer) != "b" {
		t.Fatalf("%v %v", res, err)
	}
	if runs.Load() != 1 || lost.Load() != 2 {
		t.Fatalf("handler ran %d times, b sent %d answers; want 1 and 2", runs.Load(), lost.Load())
	}
}

func TestRemoteErrorAndAdmit(t *testing.T) {
	var admit atomic.Bool
	_, qs := cluster(t, []string{"a", "b"}, func(name string, q *Queries) {
		q.Handle(kindEcho, func(string, []byte) ([]byte, error) {
			return nil, errors.New("keyring: key is not installed")
		}, Options{Reliable: true, Admit: admit.Load})
	})
	res, _ := qs["a"].Ask(context.Background(), kindEcho, nil, 200*time.Millisecond)
	if !errors.Is(res["b"].Err, ErrNoAnswer) || qs["b"].Stats(kindEcho).Dropped == 0 {
		t.Fatalf("a request not admitted was answered: %v %+v", res, qs["b"].Stats(kindEcho))
	}
	admit.Store(true)
	res, _ = qs["a"].Ask(context.Background(), kindEcho, nil, 5*time.Second)
	var re *RemoteError
	if !errors.As(res["b"].Err, &re) || re.Error() != "keyring: key is not installed" || re.Node != "b" {
		t.Fatalf("refusal: %v", res["b"].Err)
	}
	if res["a"].Err == nil {
		t.Fatal("the local handler's error is not the local result")
	}
}

func TestWindowRefusesReplays(t *testing.T) {
	kd := &kind{o: Options{Window: 2 * time.Minute}, seen: map[uint64]seenRequest{}}
	now := time.Unix(1_700_000_000, 0)
	req := frame{typ: typeStamped, id: 7, sentMs: now.UnixMilli()}
	if ans, err := kd.admit(req, now); err != nil || ans != nil {
		t.Fatal(ans, err)
	}
	// The same request again, while it is being answered: refused.
	if _, err := kd.admit(req, now.Add(time.Second)); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("same request twice: %v", err)
	}
	// Once answered, a repeat gets the same answer and is not run again.
	first := &frame{typ: typeAnswer, id: 7, node: "n"}
	kd.remember(7, first)
	if ans, err := kd.admit(req, now.Add(time.Second)); err != nil || ans != first {
		t.Fatalf("repeat after the answer: %v %v", ans, err)
	}
	old := frame{typ: typeStamped, id: 8, sentMs: now.Add(-10 * time.Minute).UnixMilli()}
	if _, err := kd.admit(old, now); err == nil || !strings.Contains(err.Error(), "clock") {
		t.Fatalf("old request: %v", err)
	}
	// Ids are forgotten after the window, but then the time refuses them.
	if _, err := kd.admit(req, now.Add(time.Hour)); err == nil {
		t.Fatal("request accepted an hour later")
	}
}

func TestMalformedCounted(t *testing.T) {
	_, qs := cluster(t, []string{"a"}, func(name string, q *Queries) {
		q.Handle(kindEcho, echo(name), Options{Window: time.Minute})
	})
	q := qs["a"]
	q.HandleMessage([]byte{typeRequest, byte(kindEcho), 1})
	// Unstamped, for a kind with a window.
	q.HandleMessage(frame{typ: typeRequest, kind: kindEcho, id: 1, node: "b"}.encode())
	if st := q.Stats(kindEcho); st.Malformed != 2 {
		t.Fatalf("stats %+v, want 2 malformed", st)
	}
	// From itself: dropped.
	q.HandleMessage(frame{typ: typeStamped, kind: kindEcho, id: 2, sentMs: 1, node: "a"}.encode())
	if st := q.Stats(kindEcho); st.Dropped != 1 {
		t.Fatalf("stats %+v, want 1 dropped", st)
	}
}

func TestAskAfterRunEnds(t *testing.T) {
	n := &fakeNet{nodes: map[string]*Queries{}}
	q := New(Config{Node: "a", Cluster: fakeMember{n, "a"}})
	q.Handle(kindEcho, echo("a"), Options{Reliable: true})
	n.nodes["a"], n.nodes["b"] = q, New(Config{Node: "b", Cluster: fakeMember{n, "b"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = q.Run(ctx)
	if _, err := q.Ask(context.Background(), kindEcho, nil, time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ask after Run: %v", err)
	}
}

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }
