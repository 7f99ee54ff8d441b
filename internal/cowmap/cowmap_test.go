package cowmap

import (
	"fmt"
	"testing"
)

// TestWriter: Set adds and replaces, Delete removes, counting keys, and
// a Writer never writes into the map it started from.
func TestWriter(t *testing.T) {
	w := NewWriter[int](nil)
	for i := range 100 {
		w.Set(fmt.Sprintf("s%d", i), i)
	}
	m1 := w.Done()
	w = NewWriter(m1)
	w.Delete("s1")
	w.Set("s2", -2)
	w.Set("new", 7)
	w.Delete("absent")
	if v, ok := w.Get("new"); !ok || v != 7 {
		t.Fatal("the writer does not see its own Set")
	}
	m2 := w.Done()
	if m1.Len() != 100 || m2.Len() != 100 || len(m1.Keys()) != 100 || len(m2.Keys()) != 100 {
		t.Fatalf("counts %d %d, keys %d %d; want 100 each", m1.Len(), m2.Len(), len(m1.Keys()), len(m2.Keys()))
	}
	if v, ok := m1.Get("s1"); !ok || v != 1 {
		t.Fatal("deleting s1 from the next map changed the one before")
	}
	if v, _ := m1.Get("s2"); v != 2 {
		t.Fatal("replacing s2 in the next map changed the one before")
	}
	if _, ok := m2.Get("s1"); ok {
		t.Fatal("s1 not removed")
	}
	if v, _ := m2.Get("s2"); v != -2 {
		t.Fatal("s2 not replaced")
	}
	if k := m2.Keys(); k[0] != "new" || k[1] != "s0" {
		t.Fatalf("keys not sorted: %v", k[:2])
	}
	var nilMap *Map[int]
	if _, ok := nilMap.Get("x"); ok || nilMap.Len() != 0 || len(nilMap.Keys()) != 0 {
		t.Fatal("a nil map is not empty")
	}
}

// TestWriterCopiesOnlyWrittenShards: an update shares every shard it did
// not write with the map it started from.
func TestWriterCopiesOnlyWrittenShards(t *testing.T) {
	w := NewWriter[int](nil)
	for i := range 1000 {
		w.Set(fmt.Sprint(i), i)
	}
	m1 := w.Done()
	w = NewWriter(m1)
	w.Set("7", 70)
	w.Delete("absent") // a delete of nothing copies nothing
	m2 := w.Done()
	copied := 0
	for i := range Shards {
		if !m1.SharesShard(m2, i) {
			copied++
		}
	}
	if copied != 1 {
		t.Fatalf("%d of %d shards copied for one key's change, want 1", copied, Shards)
	}
}
