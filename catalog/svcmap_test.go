package catalog

import (
	"fmt"
	"reflect"
	"testing"
)

// TestSnapshotSharesUnchangedShards: one service's change copies only
// its shard of the services map; the next snapshot shares every other
// shard, and every other service's instances, with the one before.
func TestSnapshotSharesUnchangedShards(t *testing.T) {
	s := openStore(t, "self", "")
	c := start(t, Config{Node: "self", Store: s, Members: newMembers("self", "n1"), Logger: quiet()})
	const n = 300
	for i := range n {
		putRecord(t, s, "n1", Definition{Name: fmt.Sprintf("svc%03d", i), ID: fmt.Sprintf("i%d", i), Port: 80}, HealthPassing)
	}
	waitFor(t, wait, fmt.Sprintf("%d instances", n), func() bool { return c.Snapshot().Len() == n })
	before := c.Snapshot()
	putRecord(t, s, "n1", Definition{Name: "svc007", ID: "i7", Port: 80}, HealthCritical)
	waitFor(t, wait, "the health change", func() bool {
		l := c.Snapshot().Service("svc007")
		return len(l) == 1 && l[0].Health == HealthCritical
	})
	after := c.Snapshot()
	copied := 0
	for i := range svcShards {
		if reflect.ValueOf(before.services.shards[i]).UnsafePointer() != reflect.ValueOf(after.services.shards[i]).UnsafePointer() {
			copied++
		}
	}
	if copied != 1 {
		t.Fatalf("%d of %d shards copied for one service's change, want 1", copied, svcShards)
	}
	if got := after.ServiceNames(); len(got) != n || after.Len() != n {
		t.Fatalf("%d names, %d instances after the change, want %d", len(got), after.Len(), n)
	}
	for _, name := range before.ServiceNames() {
		b, a := before.Service(name), after.Service(name)
		if name != "svc007" && &b[0] != &a[0] {
			t.Fatalf("%s was copied, not shared", name)
		}
	}
	if before.Service("svc007")[0].Health != HealthPassing {
		t.Fatal("the change reached the snapshot before it")
	}
}

// TestSvcWriter: set adds, replaces and removes, counting services, and
// never writes into the map it started from.
func TestSvcWriter(t *testing.T) {
	w := newSvcWriter(nil)
	for i := range 100 {
		w.set(fmt.Sprintf("s%d", i), []Instance{{ID: fmt.Sprint(i)}})
	}
	m1 := w.done()
	w = newSvcWriter(m1)
	w.set("s1", nil)
	w.set("s2", []Instance{{ID: "new"}})
	w.set("new", []Instance{{ID: "x"}})
	w.set("absent", nil)
	m2 := w.done()
	if m1.n != 100 || m2.n != 100 || len(m1.keys()) != 100 || len(m2.keys()) != 100 {
		t.Fatalf("counts %d %d, keys %d %d; want 100 each", m1.n, m2.n, len(m1.keys()), len(m2.keys()))
	}
	if l, ok := m1.get("s1"); !ok || l[0].ID != "1" {
		t.Fatal("removing s1 from the next map changed the one before")
	}
	if l, _ := m1.get("s2"); l[0].ID != "2" {
		t.Fatal("replacing s2 in the next map changed the one before")
	}
	if _, ok := m2.get("s1"); ok {
		t.Fatal("s1 not removed")
	}
	if l, _ := m2.get("new"); len(l) != 1 {
		t.Fatal("new not added")
	}
	var nilMap *svcMap
	if _, ok := nilMap.get("x"); ok {
		t.Fatal("a nil map has x")
	}
}
