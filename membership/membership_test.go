package membership

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/internal/clock"
)

type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev.Type.String()+" "+ev.Member.Name)
}

func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.got
	e.got = nil
	return out
}

func TestSuspicionFromProbes(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	var ev events
	tb := NewTable(clk.Now, ev.add)
	for _, n := range []string{"self", "a", "b"} {
		tb.Join(catalog.Node{Name: n})
	}
	ev.take()
	names := func(ns []catalog.Node) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Name)
		}
		return out
	}
	window := time.Second
	clk.Advance(900 * time.Millisecond)
	tb.Acked("a")
	if got := tb.Stale("self", window); len(got) != 0 {
		t.Fatalf("stale within the window: %v", names(got))
	}
	clk.Advance(200 * time.Millisecond) // b: 1.1s since it joined; a: 0.2s since its ack
	if got := names(tb.Stale("self", window)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("stale %v, want b alone", got)
	}
	tb.MarkSuspect("b") // its ping went unanswered
	if m, _ := tb.Get("b"); m.Status != catalog.StatusSuspect {
		t.Fatalf("b is %s", m.Status)
	}
	clk.Advance(10 * time.Second) // self is never stale; suspects stay stale until they answer
	if got := names(tb.Stale("self", window)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("stale %v, want a and b", got)
	}
	tb.Acked("b")
	if got := ev.take(); !slices.Equal(got, []string{"suspect b", "alive b"}) {
		t.Fatalf("events %q", got)
	}
	tb.Leave(catalog.Node{Name: "a"}, false)
	tb.Acked("a") // a late ack does not revive a failed member
	tb.MarkSuspect("a")
	if m, _ := tb.Get("a"); m.Status != catalog.StatusFailed {
		t.Fatalf("a is %s after a late ack", m.Status)
	}
}

func TestIntentsLamport(t *testing.T) {
	var x Intents
	leave := Intent{Kind: IntentLeave, LTime: 5, Node: "n"}
	if !x.Apply(leave) || !x.Leaving("n") {
		t.Fatal("first leave not applied")
	}
	if x.Clock.Time() <= 5 {
		t.Fatalf("clock %d did not witness the intent", x.Clock.Time())
	}
	if x.Apply(leave) {
		t.Fatal("a duplicate applied again (it would be relayed forever)")
	}
	// The node comes back: memberlist reports it alive.
	x.Joined("n")
	if x.Leaving("n") {
		t.Fatal("a rejoined node still leaving")
	}
	if x.Apply(leave) {
		t.Fatal("a stale copy of the old leave applied after the rejoin")
	}
	// Its join intent, from a clock that witnessed the cluster's.
	if !x.Apply(Intent{Kind: IntentJoin, LTime: 9, Node: "n"}) {
		t.Fatal("join not applied")
	}
	if x.Apply(Intent{Kind: IntentLeave, LTime: 7, Node: "n"}) || x.Leaving("n") {
		t.Fatal("a leave older than the join applied")
	}
	if !x.Apply(Intent{Kind: IntentLeave, LTime: 10, Node: "n"}) || !x.Leaving("n") {
		t.Fatal("a new leave not applied")
	}
	x.Forget("n")
	if x.Leaving("n") {
		t.Fatal("forgotten node still leaving")
	}
}

func TestIntentsBounded(t *testing.T) {
	var x Intents
	for i := range maxIntents + 10 {
		x.Apply(Intent{Kind: IntentLeave, LTime: uint64(i + 1), Node: fmt.Sprint(i)})
	}
	if len(x.last) != maxIntents || x.Leaving("0") || !x.Leaving(fmt.Sprint(maxIntents+9)) {
		t.Fatalf("%d intents kept; the oldest must go first", len(x.last))
	}
}

func TestIntentCodec(t *testing.T) {
	in := Intent{Kind: IntentJoin, LTime: 1 << 40, Node: "web-1.example"}
	got, err := DecodeIntent(in.Encode())
	if err != nil || got != in {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"kind":      []byte("Xx"),
		"no time":   {IntentLeave},
		"bad time":  {IntentLeave, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"no node":   {IntentLeave, 1},
		"long node": append([]byte{IntentLeave, 1}, strings.Repeat("x", 129)...),
	} {
		if _, err := DecodeIntent(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestMetaRoundTripDropsHeader(t *testing.T) {
	b, err := EncodeMeta(map[string]string{"rack": "r7", "az": "a"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeMeta(b)
	if err != nil || len(m) != 2 || m["rack"] != "r7" {
		t.Fatalf("DecodeMeta = %v, %v (the murmur.* header must not show)", m, err)
	}
	if _, err := EncodeMeta(map[string]string{"murmur.x": "1"}); err == nil {
		t.Fatal("a reserved key was accepted")
	}
}

func FuzzDecodeIntent(f *testing.F) {
	f.Add(Intent{Kind: IntentLeave, LTime: 3, Node: "n1"}.Encode())
	f.Add(Intent{Kind: IntentJoin, LTime: 1 << 60, Node: "x"}.Encode())
	f.Add([]byte{IntentLeave})
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeIntent(b)
		if err != nil {
			return
		}
		back, err := DecodeIntent(in.Encode())
		if err != nil || back != in {
			t.Fatalf("re-encoding %+v: %+v, %v", in, back, err)
		}
	})
}

// FuzzNodeMeta: node metadata from the network decodes to a map or an
// error, and what decodes re-encodes within the limit.
func FuzzNodeMeta(f *testing.F) {
	b, _ := EncodeMeta(map[string]string{"rack": "r1", "murmur.v": "1"})
	f.Add(b)
	f.Add([]byte{metaVersion})
	f.Add([]byte{metaVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil || len(b) == 0 {
			return
		}
		n := 0
		for k, v := range m {
			n += len(k) + len(v)
		}
		if n > len(b) {
			t.Fatalf("%d bytes decoded to %d bytes of metadata", len(b), n)
		}
	})
}

// FuzzCoordinate: a peer's coordinate in a ping ack is either refused or
// leaves this agent's own coordinate valid.
func FuzzCoordinate(f *testing.F) {
	c := NewCoords()
	f.Add(c.Payload(), int64(time.Millisecond))
	f.Add(encodeCoord(&coordinate.Coordinate{Vec: make([]float64, c.dims), Height: 1e300}), int64(time.Second))
	inf := encodeCoord(&coordinate.Coordinate{Vec: make([]float64, c.dims)})
	binary.BigEndian.PutUint64(inf[2:], math.Float64bits(math.Inf(1)))
	f.Add(inf, int64(0))
	f.Fuzz(func(t *testing.T, payload []byte, rtt int64) {
		c := NewCoords()
		c.Observe("peer", time.Duration(rtt), payload)
		if !c.client.GetCoordinate().IsValid() {
			t.Fatalf("own coordinate invalid after %x", payload)
		}
	})
}

// Receive applies a leave once, turns its failed node left, and refuses
// its own node's intents, stale copies and garbage; the clock rides
// push/pull.
func TestIntentsReceive(t *testing.T) {
	tb := NewTable(time.Now, func(Event) {})
	tb.Join(catalog.Node{Name: "a"})
	tb.Leave(catalog.Node{Name: "a"}, false) // memberlist saw it dead first
	var in Intents
	leave := Intent{Kind: IntentLeave, LTime: 5, Node: "a"}.Encode()
	if got, ok := in.Receive(leave, "self", tb); !ok || got.Node != "a" {
		t.Fatalf("first leave: %v %v", got, ok)
	}
	if m, _ := tb.Get("a"); m.Status != catalog.StatusLeft {
		t.Fatalf("failed a is %s after its leave intent", m.Status)
	}
	for name, p := range map[string][]byte{"repeat": leave, "self": Intent{Kind: IntentLeave, LTime: 9, Node: "self"}.Encode(), "garbage": {0xff, 1}} {
		if _, ok := in.Receive(p, "self", tb); ok {
			t.Errorf("%s: relayed", name)
		}
	}
	var c Clock
	c.MergeState(in.Clock.State())
	if c.Time() <= 5 {
		t.Fatalf("clock %d after merging a clock past 5", c.Time())
	}
	c.MergeState([]byte{0xff}) // malformed: ignored
}

// Pick returns alive members only, never the excluded ones, at most n.
func TestPick(t *testing.T) {
	tb := NewTable(time.Now, func(Event) {})
	for _, n := range []string{"self", "a", "b", "c", "gone"} {
		tb.Join(catalog.Node{Name: n})
	}
	tb.Leave(catalog.Node{Name: "gone"}, false)
	noShuffle := func(int, func(i, j int)) {}
	if got := tb.Pick(5, noShuffle, "self", "b"); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("Pick = %v", got)
	}
	if got := tb.Pick(1, noShuffle, "self"); len(got) != 1 {
		t.Fatalf("Pick(1) = %v", got)
	}
}
