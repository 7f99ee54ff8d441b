package configsync

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

type env struct {
	to   string
	data []byte
}

// exchange runs one push/pull between a and b (both summaries) and the
// sync it triggers to the end, through Encode/Decode. It returns the bytes
// and messages that crossed, by kind.
func exchange(t fataler, a, b *State, now int64) (total int, byKind map[Kind]int) {
	t.Helper()
	nodes := map[string]*State{a.Node(): a, b.Node(): b}
	q := []env{{b.Node(), Encode(ptr(a.Summary()))}, {a.Node(), Encode(ptr(b.Summary()))}}
	byKind = make(map[Kind]int)
	for steps := 0; len(q) > 0; steps++ {
		if steps > 100000 {
			t.Fatalf("exchange does not terminate")
		}
		e := q[0]
		q = q[1:]
		total += len(e.data)
		m, err := Decode(e.data)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		byKind[m.Kind()] += len(e.data)
		st := nodes[e.to]
		out := st.Step(m, now)
		for _, r := range out.Replies {
			q = append(q, env{out.To, Encode(r)})
		}
		if out.Transfer {
			q = append(q, transferAll(st, out.To)...)
		}
	}
	return total, byKind
}

// transferAll is a whole full transfer from st to peer, as the Store
// streams it.
func transferAll(st *State, peer string) []env {
	var out []env
	session, from, sent := st.NewSession(), "", uint64(0)
	for {
		m, next, done := st.TransferChunk(session, from, sent)
		sent += uint64(len(m.Entries))
		if len(m.Entries) > 0 || done {
			out = append(out, env{peer, Encode(m)})
		}
		if done {
			return out
		}
		from = next
	}
}

// fataler is what testing.TB and *rapid.T share.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// fill writes n keys on a and copies them to the others.
func fill(t testing.TB, n int, a *State, others ...*State) {
	t.Helper()
	es := make([]Entry, 0, n)
	for i := range n {
		r, err := a.Put(fmt.Sprintf("config/service-%06d/setting", i), []byte(fmt.Sprintf("value-%d-%032d", i, i)), 0, 1_700_000_000_000)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, r.Entry)
	}
	for _, o := range others {
		if res := o.Merge(es, 1_700_000_000_000); len(res.Accepted) != n {
			t.Fatalf("copy accepted %d of %d", len(res.Accepted), n)
		}
	}
}

func sameData(t testing.TB, a, b *State) {
	t.Helper()
	if a.Root() != b.Root() {
		t.Fatalf("roots differ: %s %x, %s %x", a.Node(), a.Root(), b.Node(), b.Root())
	}
	sa, sb := snapshot(a), snapshot(b)
	if len(sa) != len(sb) {
		t.Fatalf("%d entries vs %d", len(sa), len(sb))
	}
	for i := range sa {
		if compareEntries(sa[i].Entry, sb[i].Entry) != 0 || sa[i].Key != sb[i].Key {
			t.Fatalf("entry %d differs: %+v vs %+v", i, sa[i].Entry, sb[i].Entry)
		}
	}
}

func TestSyncInSyncIsTiny(t *testing.T) {
	a, b := newState(t, "a"), newState(t, "b")
	fill(t, 20000, a, b)
	total, kinds := exchange(t, a, b, 1_700_000_001_000)
	if total > 200 || len(kinds) != 1 {
		t.Fatalf("in-sync exchange cost %d bytes (%v), want two summaries", total, kinds)
	}
}

func TestSyncRepairsBothDirections(t *testing.T) {
	a, b := newState(t, "a"), newState(t, "b")
	fill(t, 3000, a, b)
	now := int64(1_700_000_100_000)
	// Scatter differences on both sides: updates, new keys, deletes.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		k := fmt.Sprintf("config/service-%06d/setting", rng.IntN(3000))
		switch i % 3 {
		case 0:
			a.Put(k, []byte("a-wins"), 0, now+int64(i))
		case 1:
			b.Put(k, []byte("b-wins"), 0, now+int64(i))
		case 2:
			b.Delete(k, now+int64(i))
		}
		a.Put(fmt.Sprintf("only-a/%d", i), []byte("x"), 0, now)
		b.Put(fmt.Sprintf("only-b/%d", i), []byte("y"), 0, now)
	}
	exchange(t, a, b, now+1000)
	sameData(t, a, b)
	if total, _ := exchange(t, a, b, now+2000); total > 200 {
		t.Fatalf("still differ after repair: %d bytes", total)
	}
}

func TestSyncJoinFullTransferChunked(t *testing.T) {
	a, err := NewState(StateConfig{Node: "a", ChunkBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	joiner := newState(t, "z")
	fill(t, 2000, a)
	a.Delete("config/service-000007/setting", 1_700_000_000_500)
	_, kinds := exchange(t, a, joiner, 1_700_000_001_000)
	sameData(t, a, joiner)
	if kinds[KindSyncBuckets] != 0 {
		t.Fatal("join used the bucket protocol instead of a full transfer")
	}
	// Chunks respect the bound (one entry is ~100 bytes).
	out := a.Step(ptr(newState(t, "y").Summary()), 1_700_000_001_000)
	if !out.Transfer || len(out.Replies) != 0 {
		t.Fatalf("summary of an empty peer: %+v", out)
	}
	chunks := transferAll(a, "y")
	if len(chunks) < 5 {
		t.Fatalf("%d chunks for 2000 entries at 16 KiB", len(chunks))
	}
	for _, c := range chunks {
		if n := len(c.data); n > 20<<10 {
			t.Fatalf("chunk of %d bytes", n)
		}
	}
}

func TestSyncTruncatedHashCollisionsHeal(t *testing.T) {
	// Whatever salt a session draws, repeated sessions converge: a hidden
	// difference in one session is seen in the next.
	for seed := range uint64(20) {
		a, _ := NewState(StateConfig{Node: "a", Seed: seed})
		b, _ := NewState(StateConfig{Node: "b", Seed: seed})
		fill(t, 500, a, b)
		for i := range 40 {
			a.Put(fmt.Sprintf("config/service-%06d/setting", i*7), []byte("new"), 0, 1_700_000_100_000)
		}
		for round := 0; a.Root() != b.Root(); round++ {
			if round > 5 {
				t.Fatalf("seed %d: not converged after %d rounds", seed, round)
			}
			exchange(t, a, b, 1_700_000_200_000+int64(round))
		}
		sameData(t, a, b)
	}
}

func TestDigestIncremental(t *testing.T) {
	// The tree after any sequence equals a tree built from scratch.
	s := newState(t, "a")
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 5000 {
		k := fmt.Sprintf("k%d", rng.IntN(500))
		switch rng.IntN(4) {
		case 0:
			s.Delete(k, int64(i))
		case 1:
			s.GC(int64(i) + 3600_000*2)
		default:
			s.Put(k, []byte{byte(i)}, 0, int64(i))
		}
	}
	var fresh tree
	var keys []string
	s.Scan("", func(r Record) bool {
		e := r.Entry
		kh := keyHash(e.Key)
		fresh.add(newRecord(e, 0, kh))
		keys = append(keys, r.Key)
		return true
	})
	if fresh.root != s.tree.root || fresh.bucket != s.tree.bucket || fresh.entries != s.tree.entries {
		t.Fatal("incremental digest differs from a rebuilt one")
	}
	if !slices.IsSorted(keys) {
		t.Fatal("Scan not sorted")
	}
}
