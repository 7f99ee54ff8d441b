package configsync

import (
	"math"
	"testing"
)

func TestVersionOrder(t *testing.T) {
	tests := []struct {
		name string
		a, b Version
		want int
	}{
		{"wall decides", Version{Wall: 1, Logical: 9, Node: "z"}, Version{Wall: 2, Node: "a"}, -1},
		{"logical next", Version{Wall: 2, Logical: 1, Node: "z"}, Version{Wall: 2, Logical: 2, Node: "a"}, -1},
		{"node breaks ties", Version{Wall: 2, Logical: 1, Node: "a"}, Version{Wall: 2, Logical: 1, Node: "b"}, -1},
		{"equal", Version{Wall: 2, Logical: 1, Node: "a"}, Version{Wall: 2, Logical: 1, Node: "a"}, 0},
		{"zero is oldest", Version{}, Version{Wall: 0, Logical: 0, Node: "a"}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Compare(tc.b); got != tc.want {
				t.Fatalf("Compare = %d, want %d", got, tc.want)
			}
			if got := tc.b.Compare(tc.a); got != -tc.want {
				t.Fatalf("reverse Compare = %d, want %d", got, -tc.want)
			}
		})
	}
	if s := (Version{Wall: 1700000000123, Logical: 4, Node: "n1"}).String(); s != "1700000000123.4" {
		t.Fatalf("String = %q", s)
	}
}

func TestHLCNext(t *testing.T) {
	tests := []struct {
		name    string
		start   HLC
		now     int64
		want    Version
		comment string
	}{
		{"wall moves", HLC{node: "n", wall: 100, logical: 7}, 200, Version{Wall: 200, Node: "n"}, ""},
		{"same ms", HLC{node: "n", wall: 100, logical: 7}, 100, Version{Wall: 100, Logical: 8, Node: "n"}, ""},
		{"clock went back", HLC{node: "n", wall: 100, logical: 7}, 50, Version{Wall: 100, Logical: 8, Node: "n"}, ""},
		{"logical overflow", HLC{node: "n", wall: 100, logical: math.MaxUint32}, 100, Version{Wall: 101, Node: "n"}, ""},
		{"fresh at zero time", HLC{node: "n"}, 0, Version{Wall: 0, Logical: 1, Node: "n"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.start
			before := h.Last()
			got := h.Next(tc.now)
			if got != tc.want {
				t.Fatalf("Next = %+v, want %+v", got, tc.want)
			}
			if !got.after(before) {
				t.Fatalf("Next %v not after %v", got, before)
			}
		})
	}
}

func TestHLCObserve(t *testing.T) {
	h := NewHLC("b", 10_000)
	v1 := h.Next(1000)
	// A version from a node whose clock is 5s ahead: within the bound.
	remote := Version{Wall: 6000, Logical: 3, Node: "a"}
	if skew, ok := h.Observe(remote, 1001); skew != 4999 || !ok {
		t.Fatalf("Observe = %d, %v; want 4999, true", skew, ok)
	}
	v2 := h.Next(1002)
	if !v2.after(remote) || !v2.after(v1) {
		t.Fatalf("Next after observe = %v, not after %v", v2, remote)
	}
	if v2.Wall != 6000 || v2.Logical != 4 {
		t.Fatalf("Next = %v, want 6000.4 (dragged forward)", v2)
	}
	// An older version changes nothing and reports no skew.
	if skew, ok := h.Observe(Version{Wall: 10, Node: "c"}, 1003); skew != 0 || !ok {
		t.Fatalf("Observe of old version = %d, %v", skew, ok)
	}
	if h.Last().Wall != 6000 {
		t.Fatalf("old version moved the clock: %v", h.Last())
	}
	// Beyond the bound: refused, the clock does not move.
	for _, far := range []Version{{Wall: 1004 + 10_001, Node: "f"}, {Wall: math.MaxInt64, Logical: math.MaxUint32, Node: "f"}} {
		if skew, ok := h.Observe(far, 1004); ok || skew != far.Wall-1004 {
			t.Fatalf("Observe(%v) = %d, %v; want refused", far, skew, ok)
		}
	}
	if h.Last().Wall != 6000 || h.Ahead(1004) != 0 {
		t.Fatalf("a refused version moved the clock: %v", h.Last())
	}
	// Once the local clock passes it, wall time takes over again.
	if v := h.Next(7000); v.Wall != 7000 || v.Logical != 0 {
		t.Fatalf("Next(7000) = %v", v)
	}
	// A wall clock that went back beyond the bound shows as Ahead.
	if a := h.Ahead(7000 - 10_000 - 5); a != 5 {
		t.Fatalf("Ahead = %d, want 5", a)
	}
}

func TestMergeTieBreak(t *testing.T) {
	v := Version{Wall: 5, Logical: 1, Node: "a"}
	a := Entry{Key: "k", Value: []byte("x"), Version: v}
	b := Entry{Key: "k", Value: []byte("y"), Version: v}
	c := Entry{Key: "k", Version: v, Deleted: true}
	for _, pair := range [][2]Entry{{a, b}, {a, c}, {b, c}} {
		m1, m2 := Merge(pair[0], pair[1]), Merge(pair[1], pair[0])
		if compareEntries(m1, m2) != 0 {
			t.Fatalf("Merge not commutative on equal versions: %+v vs %+v", m1, m2)
		}
	}
	if !Merge(a, c).Deleted {
		t.Fatal("a tombstone should win a tie against a put")
	}
}
