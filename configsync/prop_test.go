package configsync

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// genEntry draws entries of few keys, versions and values, so that ties
// and equal versions happen.
func genEntry(keys ...string) *rapid.Generator[Entry] {
	return rapid.Custom(func(t *rapid.T) Entry {
		e := Entry{
			Key: rapid.SampledFrom(keys).Draw(t, "key"),
			Version: Version{
				Wall:    rapid.Int64Range(1, 4).Draw(t, "wall"),
				Logical: rapid.Uint32Range(0, 2).Draw(t, "logical"),
				Node:    rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "node"),
			},
			Flags:   rapid.Uint64Range(0, 1).Draw(t, "flags"),
			Deleted: rapid.Bool().Draw(t, "deleted"),
		}
		if !e.Deleted {
			e.Value = rapid.SampledFrom([][]byte{nil, []byte("x"), []byte("y")}).Draw(t, "value")
		}
		return e
	})
}

func sameEntry(a, b Entry) bool {
	return a.Key == b.Key && compareEntries(a, b) == 0 && a.Deleted == b.Deleted
}

func TestPropMergeIsCRDT(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := genEntry("k")
		a, b, c := g.Draw(t, "a"), g.Draw(t, "b"), g.Draw(t, "c")
		if !sameEntry(Merge(a, a), a) {
			t.Fatal("not idempotent")
		}
		if !sameEntry(Merge(a, b), Merge(b, a)) {
			t.Fatalf("not commutative: %+v %+v", a, b)
		}
		if !sameEntry(Merge(Merge(a, b), c), Merge(a, Merge(b, c))) {
			t.Fatal("not associative")
		}
		m := Merge(a, b)
		if !sameEntry(m, a) && !sameEntry(m, b) {
			t.Fatal("merge invented an entry")
		}
	})
}

// TestPropStateMergeOrderFree: merging any multiset of entries in any
// order, with repeats, gives the same State (the map of key → greatest
// entry), the same digest and the same accepted count per distinct winner.
func TestPropStateMergeOrderFree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		es := rapid.SliceOfN(genEntry("k1", "k2", "k3"), 0, 30).Draw(t, "entries")
		perm := rapid.Permutation(es).Draw(t, "perm")
		dups := rapid.SliceOfN(rapid.IntRange(0, max(len(es)-1, 0)), 0, 10).Draw(t, "dups")
		s1, _ := NewState(StateConfig{Node: "x"})
		s2, _ := NewState(StateConfig{Node: "y"})
		s1.Merge(es, 10)
		for _, i := range dups {
			if len(perm) > 0 {
				perm = append(perm, perm[i%len(perm)])
			}
		}
		for _, e := range perm { // one at a time
			s2.Merge([]Entry{e}, 10)
		}
		want := map[string]Entry{}
		for _, e := range es {
			if old, ok := want[e.Key]; !ok || e.Newer(old) {
				want[e.Key] = e
			}
		}
		for _, s := range []*State{s1, s2} {
			got := snapshot(s)
			if len(got) != len(want) {
				t.Fatalf("%d keys, want %d", len(got), len(want))
			}
			for _, r := range got {
				if !sameEntry(r.Entry, want[r.Key]) {
					t.Fatalf("key %s: %+v, want %+v", r.Key, r.Entry, want[r.Key])
				}
			}
		}
		if s1.Root() != s2.Root() {
			t.Fatal("digests differ")
		}
	})
}

// refModel is the simple reference a State must match: a map from key to
// its greatest entry, plus the floor and the per-key marks.
type refModel struct {
	ttl     int64
	entries map[string]Entry
	floor   Version
	marks   map[string]mark
}

func (m *refModel) absentBelow(e Entry) bool {
	if e.Version.Compare(m.floor) <= 0 {
		return true
	}
	mk, ok := m.marks[e.Key]
	return ok && e.Version.Compare(mk.v) <= 0
}

func TestPropStateMatchesModel(t *testing.T) {
	keys := []string{"a", "a/b", "a/c", "b", "b/x"}
	const ttl, skew = 1000, 200
	rapid.Check(t, func(t *rapid.T) {
		s, _ := NewState(StateConfig{Node: "self", TombstoneTTL: ttl * time.Millisecond, MaxClockSkew: skew * time.Millisecond})
		m := &refModel{ttl: ttl, entries: map[string]Entry{}, marks: map[string]mark{}}
		now := int64(2000)
		var maxSeen Version // every version issued or observed
		lastIndex := uint64(0)
		remote := rapid.Custom(func(t *rapid.T) Entry {
			e := Entry{
				Key: rapid.SampledFrom(keys).Draw(t, "key"),
				Version: Version{
					Wall:    now + rapid.Int64Range(-1500, 300).Draw(t, "age"),
					Logical: rapid.Uint32Range(0, 1).Draw(t, "logical"),
					Node:    rapid.SampledFrom([]string{"p", "q"}).Draw(t, "node"),
				},
				Deleted: rapid.Bool().Draw(t, "deleted"),
			}
			if !e.Deleted {
				e.Value = []byte(rapid.SampledFrom([]string{"1", "2"}).Draw(t, "value"))
			}
			return e
		})
		var history []Entry   // every entry seen, for stale replays
		var collected []Entry // collected tombstones and rejected versions
		observe := func(v Version) {
			if v.after(maxSeen) {
				maxSeen = v
			}
		}
		issued := func(v Version) {
			if !v.after(maxSeen) {
				t.Fatalf("version %v not after everything seen (%v)", v, maxSeen)
			}
			observe(v)
		}
		t.Repeat(map[string]func(*rapid.T){
			"tick": func(t *rapid.T) { now += rapid.Int64Range(0, 400).Draw(t, "dt") },
			"put": func(t *rapid.T) {
				k := rapid.SampledFrom(keys).Draw(t, "key")
				r, err := s.Put(k, []byte("v"), 0, now)
				if err != nil {
					t.Fatal(err)
				}
				issued(r.Version)
				m.entries[k] = r.Entry
				history = append(history, r.Entry)
			},
			"delete": func(t *rapid.T) {
				k := rapid.SampledFrom(keys).Draw(t, "key")
				r, err := s.Delete(k, now)
				old, ok := m.entries[k]
				if !ok || old.Deleted {
					if err == nil {
						t.Fatal("deleted an absent key")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				issued(r.Version)
				m.entries[k] = r.Entry
				history = append(history, r.Entry)
			},
			"deletePrefix": func(t *rapid.T) {
				p := rapid.SampledFrom([]string{"a", "a/", "b", ""}).Draw(t, "prefix")
				for _, r := range s.DeletePrefix(p, now) {
					issued(r.Version)
					m.entries[r.Key] = r.Entry
				}
				for k, e := range m.entries {
					if strings.HasPrefix(k, p) && !e.Deleted {
						t.Fatalf("DeletePrefix(%q) left %q", p, k)
					}
				}
			},
			"merge": func(t *rapid.T) {
				es := rapid.SliceOfN(remote, 1, 4).Draw(t, "entries")
				if len(collected) > 0 && rapid.Bool().Draw(t, "replay collected") {
					es = append(es, rapid.SampledFrom(collected).Draw(t, "collected"))
				}
				if len(history) > 0 && rapid.Bool().Draw(t, "replay") {
					// A stale copy of something seen before (maybe
					// collected since) comes back.
					es = append(es, rapid.SampledFrom(history).Draw(t, "old"))
				}
				history = append(history, es...)
				out := s.Step(&Update{From: "p", Entries: es}, now)
				var rejected []KeyVersion
				future := 0
				for _, e := range es {
					if e.Version.Wall > now+skew {
						future++ // refused, not observed
						continue
					}
					observe(e.Version)
					old, ok := m.entries[e.Key]
					switch {
					case ok && e.Newer(old):
						m.entries[e.Key] = e
					case !ok && m.absentBelow(e):
						rejected = append(rejected, KeyVersion{Key: e.Key, Version: e.Version})
					case !ok:
						m.entries[e.Key] = e
					}
				}
				var got []KeyVersion
				for _, r := range out.Replies {
					got = append(got, r.(*Reject).Items...)
				}
				if !slices.Equal(got, rejected) {
					t.Fatalf("rejects %v, want %v", got, rejected)
				}
				if out.Future != future {
					t.Fatalf("refused %d future versions, want %d", out.Future, future)
				}
			},
			"summary": func(t *rapid.T) {
				f := Version{Wall: now + rapid.Int64Range(-1500, 300).Draw(t, "floor age"), Node: "p"}
				s.Step(&Summary{Node: "p", Root: 1, Count: 1, Floor: f}, now)
				if s.Floor() != m.floor {
					t.Fatalf("floor %v after a summary with floor %v, want %v (a summary never sets the floor)", s.Floor(), f, m.floor)
				}
			},
			"gc": func(t *rapid.T) {
				got0 := s.GC(now)
				collected = append(collected, got0...)
				var want []string
				for k, e := range m.entries {
					if e.Deleted && now-e.Version.Wall >= ttl {
						want = append(want, k)
						delete(m.entries, k)
						if e.Version.Compare(m.floor) > 0 {
							m.floor = e.Version
						}
					}
				}
				for k, mk := range m.marks {
					if now-mk.atMs >= ttl {
						delete(m.marks, k)
					}
				}
				slices.Sort(want)
				var got []string
				for _, e := range got0 {
					got = append(got, e.Key)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("GC collected %v, want %v", got, want)
				}
			},
			"reject": func(t *rapid.T) {
				k := rapid.SampledFrom(keys).Draw(t, "key")
				v := Version{Wall: now + rapid.Int64Range(-1500, 300).Draw(t, "age"), Node: "p"}
				floor := Version{Wall: v.Wall + rapid.Int64Range(-50, 50).Draw(t, "floor"), Node: "p"}
				out := s.Step(&Reject{From: "p", Floor: floor, Items: []KeyVersion{{Key: k, Version: v}}}, now)
				honoured := floor.Wall <= now-ttl+skew && v.Compare(floor) <= 0
				if out.RejectIgnored == honoured {
					t.Fatalf("Reject of %v with floor %v at %d: ignored=%v", v, floor, now, out.RejectIgnored)
				}
				if !honoured {
					return
				}
				collected = append(collected, Entry{Key: k, Value: []byte("1"), Version: v})
				if old, ok := m.entries[k]; ok && old.Version.Compare(v) <= 0 {
					delete(m.entries, k)
					m.marks[k] = mark{v: v, atMs: now}
				}
			},
			"": func(t *rapid.T) {
				got := snapshot(s)
				if len(got) != len(m.entries) {
					t.Fatalf("state has %d entries, model %d", len(got), len(m.entries))
				}
				for _, r := range got {
					if !sameEntry(r.Entry, m.entries[r.Key]) {
						t.Fatalf("key %q: state %+v, model %+v", r.Key, r.Entry, m.entries[r.Key])
					}
				}
				if s.Floor() != m.floor {
					t.Fatalf("floor %v, model %v", s.Floor(), m.floor)
				}
				var live []string
				for _, k := range slices.Sorted(maps.Keys(m.entries)) {
					if !m.entries[k].Deleted {
						live = append(live, k)
					}
				}
				if !slices.Equal(s.Keys(""), live) {
					t.Fatalf("Keys = %v, want %v", s.Keys(""), live)
				}
				for _, k := range keys {
					r, ok := s.Get(k)
					e, mok := m.entries[k]
					if ok != (mok && !e.Deleted) || (ok && !bytes.Equal(r.Value, e.Value)) {
						t.Fatalf("Get(%q) = %+v %v, model %+v", k, r, ok, e)
					}
				}
				if s.Index() < lastIndex {
					t.Fatal("index went backwards")
				}
				lastIndex = s.Index()
				if c := s.Clock(); maxSeen.after(c) {
					t.Fatalf("clock %v behind %v", c, maxSeen)
				}
				var fresh tree
				for _, r := range got {
					e := r.Entry
					kh := keyHash(e.Key)
					fresh.add(newRecord(e, 0, kh))
				}
				if fresh.root != s.Root() {
					t.Fatal("digest differs from a rebuilt one")
				}
			},
		})
	})
}

// TestPropReplicasConverge: any writes on any replicas, partially
// gossiped, followed by anti-entropy between every pair, leave every
// replica equal to the map of key → greatest write (no GC here).
func TestPropReplicasConverge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(t, "replicas")
		var rs []*State
		for i := range n {
			s, _ := NewState(StateConfig{Node: fmt.Sprintf("n%d", i), Seed: uint64(i)})
			rs = append(rs, s)
		}
		want := map[string]Entry{}
		now := int64(1000)
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for range steps {
			now += rapid.Int64Range(0, 3).Draw(t, "dt")
			i := rapid.IntRange(0, n-1).Draw(t, "node")
			k := rapid.SampledFrom([]string{"a", "b", "c", "d"}).Draw(t, "key")
			var r Record
			var err error
			if rapid.Bool().Draw(t, "delete") {
				r, err = rs[i].Delete(k, now)
			} else {
				r, err = rs[i].Put(k, []byte(fmt.Sprint(now)), 0, now)
			}
			if err != nil {
				continue
			}
			if old, ok := want[k]; !ok || r.Newer(old) {
				want[k] = r.Entry
			}
			if j := rapid.IntRange(0, n-1).Draw(t, "gossip to"); j != i {
				rs[j].Step(&Update{From: rs[i].Node(), Entries: []Entry{r.Entry}}, now)
			}
		}
		for round := 0; round < 3; round++ {
			for i := range rs {
				for j := range rs {
					if i != j {
						exchange(t, rs[i], rs[j], now)
					}
				}
			}
		}
		for _, s := range rs {
			got := snapshot(s)
			if len(got) != len(want) {
				t.Fatalf("%s has %d keys, want %d", s.Node(), len(got), len(want))
			}
			for _, r := range got {
				if !sameEntry(r.Entry, want[r.Key]) {
					t.Fatalf("%s key %s = %+v, want %+v", s.Node(), r.Key, r.Entry, want[r.Key])
				}
			}
		}
	})
}
