package broadcast

import (
	"bytes"
	"fmt"
	"testing"
)

func TestQueues(t *testing.T) {
	q := New(func() int { return 3 }, 1)
	q.Queue("k", []byte("relay-old"), false)
	q.Queue("k", []byte("relay-new"), false) // replaces the queued one
	q.Queue("x", []byte("local"), true)
	if l, r := q.Len(); l != 1 || r != 1 {
		t.Fatalf("queued %d local, %d relay", l, r)
	}
	got := q.Get(2, 1400)
	if len(got) != 2 || !bytes.Equal(got[0], []byte("local")) || !bytes.Equal(got[1], []byte("relay-new")) {
		t.Fatalf("broadcasts %q: want the local one first and the newest relay", got)
	}
	for i := range MaxQueued + 10 {
		q.Queue(fmt.Sprint(i), []byte("m"), false)
	}
	if _, r := q.Len(); r > MaxQueued || q.Pruned() == 0 {
		t.Fatalf("relay queue %d, pruned %d", r, q.Pruned())
	}
}
