package catalog

import (
	"fmt"
	"testing"

	"github.com/murmurhq/murmur/internal/cowmap"
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
	for i := range cowmap.Shards {
		if !before.services.SharesShard(after.services, i) {
			copied++
		}
	}
	if copied != 1 {
		t.Fatalf("%d of %d shards copied for one service's change, want 1", copied, cowmap.Shards)
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
