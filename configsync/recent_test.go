package configsync

import (
	"context"
	"fmt"
	"testing"
)

func TestRecentChangesAndLag(t *testing.T) {
	checkLeaks(t)
	h := newHub(7)
	a := startStore(t, h, Config{Node: "a"})
	b := startStore(t, h, Config{Node: "b"})
	ctx := context.Background()
	for i := range 3 {
		if _, err := a.Put(ctx, fmt.Sprintf("app/k%d", i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Delete(ctx, "app/k0"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(ctx, "other/x", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	got := a.Recent("app/", 0)
	if len(got) != 4 || got[0].Key != "app/k0" || !got[0].Deleted || got[3].Key != "app/k0" || got[3].Deleted {
		t.Fatalf("Recent(app/) = %+v, want the 4 app/ changes newest first", got)
	}
	for _, c := range got {
		if c.Path != PathLocal || c.At.IsZero() || c.Index == 0 {
			t.Fatalf("local change %+v: want path local, a time and an index", c)
		}
	}
	if n := len(a.Recent("", 2)); n != 2 {
		t.Fatalf("Recent limit 2 returned %d", n)
	}

	eventually(t, "b applies other/x", func() bool { _, ok := b.Applied("other/x"); return ok })
	c, _ := b.Applied("other/x")
	if c.Path == PathLocal || c.Version.Node != "a" {
		t.Fatalf("b's change %+v: want a remote path, written by a", c)
	}
	eventually(t, "b counts 5 propagation lags", func() bool {
		l := b.PropagationLag()
		return l[PathGossip].Count+l[PathSync].Count == 5
	})
	if lag := b.PropagationLag()[PathGossip]; lag.Buckets[300] != lag.Count {
		t.Fatalf("b's gossip lag histogram %+v: want every observation ≤ 300s", lag)
	}
	if a.PropagationLag()[PathGossip].Count != 0 {
		t.Fatal("local writes must not count as propagation")
	}
	if _, ok := a.Applied("never"); ok {
		t.Fatal("Applied of an unknown key")
	}
}

func TestRecentRingKeepsTheLatest(t *testing.T) {
	var r recentRing
	for i := range RecentChanges + 10 {
		r.add(Change{Key: fmt.Sprint(i)})
	}
	var keys []string
	r.each(func(c Change) bool { keys = append(keys, c.Key); return true })
	if len(keys) != RecentChanges || keys[0] != fmt.Sprint(RecentChanges+9) || keys[len(keys)-1] != "10" {
		t.Fatalf("ring holds %d, newest %s, oldest %s", len(keys), keys[0], keys[len(keys)-1])
	}
}

// BenchmarkRecordChange is what remembering a change (ring entry and lag
// histogram) adds to applying one remote version.
func BenchmarkRecordChange(b *testing.B) {
	s, err := Open(Config{Node: "n"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	recs := []Record{{Entry: Entry{Key: "app/config", Version: Version{Wall: 1, Node: "m"}}, Index: 1}}
	for b.Loop() {
		s.mu.Lock()
		s.recordLocked(recs, PathGossip)
		s.mu.Unlock()
	}
}
