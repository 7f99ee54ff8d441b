package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

func TestKV(t *testing.T) {
	c, b := newAgent(t)
	ctx := context.Background()
	p, err := c.KVPut(ctx, "app/db/url", []byte("postgres://x"), 3)
	if err != nil || p.Key != "app/db/url" || p.Flags != 3 || p.Index != 1 || p.Origin != "node1" {
		t.Fatalf("KVPut = %+v, %v", p, err)
	}
	if _, err := c.KVPut(ctx, "app/empty", nil, 0); err != nil {
		t.Fatal(err)
	}
	got, err := c.KVGet(ctx, "app/db/url")
	if err != nil || string(got.Value) != "postgres://x" || got.Version != p.Version {
		t.Fatalf("KVGet = %+v, %v", got, err)
	}
	raw, err := c.KVGetRaw(ctx, "app/db/url")
	if err != nil || string(raw) != "postgres://x" {
		t.Fatalf("KVGetRaw = %q, %v", raw, err)
	}
	if raw, err := c.KVGetRaw(ctx, "app/empty"); err != nil || len(raw) != 0 {
		t.Fatalf("KVGetRaw(empty) = %q, %v", raw, err)
	}
	if _, err := c.KVGet(ctx, "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("KVGet(nope) = %v", err)
	}
	if _, err := c.KVGetRaw(ctx, "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("KVGetRaw(nope) = %v", err)
	}
	pairs, err := c.KVList(ctx, "app/")
	if err != nil || len(pairs) != 2 || pairs[0].Key != "app/db/url" {
		t.Fatalf("KVList = %+v, %v", pairs, err)
	}
	pairs, err = c.KVList(ctx, "none/")
	if err != nil || pairs == nil || len(pairs) != 0 {
		t.Fatalf("KVList(none) = %#v, %v; want an empty list", pairs, err)
	}
	keys, err := c.KVKeys(ctx, "")
	if err != nil || strings.Join(keys, ",") != "app/db/url,app/empty" {
		t.Fatalf("KVKeys = %v, %v", keys, err)
	}
	if _, err := c.KVPut(ctx, "_murmur/x", []byte("v"), 0); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("reserved put: %v", err)
	}
	b.MaxValueBytes = 4
	if _, err := c.KVPut(ctx, "big", []byte("12345"), 0); !errors.Is(err, client.ErrTooLarge) || !strings.Contains(err.Error(), "limit kv.max_value_bytes is 4") {
		t.Errorf("big put: %v", err)
	}
	n, err := c.KVDelete(ctx, "app/", true)
	if err != nil || n != 2 {
		t.Fatalf("KVDelete(recurse) = %d, %v", n, err)
	}
	n, err = c.KVDelete(ctx, "app/db/url", false)
	if err != nil || n != 0 {
		t.Fatalf("KVDelete(gone) = %d, %v", n, err)
	}
}

// TestKVOddKeys checks that keys the router would split, clean or
// misread reach the store intact.
func TestKVOddKeys(t *testing.T) {
	c, b := newAgent(t)
	ctx := context.Background()
	keys := []string{"a//b", "/lead", "trail/", "x/../y", "x/./y", "..", ".", "sp ace", "q?x#y&z=1", "pct%41", "ünï/cödé", "a+b", "semi;colon"}
	for _, k := range keys {
		t.Run(k, func(t *testing.T) {
			if _, err := c.KVPut(ctx, k, []byte("v:"+k), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Get(k); err != nil {
				t.Fatalf("the store has no %q: %v (keys %q)", k, err, b.Keys(""))
			}
			raw, err := c.KVGetRaw(ctx, k)
			if err != nil || string(raw) != "v:"+k {
				t.Fatalf("KVGetRaw = %q, %v", raw, err)
			}
			if n, err := c.KVDelete(ctx, k, false); err != nil || n != 1 {
				t.Fatalf("KVDelete = %d, %v", n, err)
			}
		})
	}
}

func TestKVListWait(t *testing.T) {
	c, b := newAgent(t)
	ctx := context.Background()
	_, idx, err := c.KVListIndex(ctx, "app/")
	if err != nil || idx != 0 {
		t.Fatalf("KVListIndex = %d, %v", idx, err)
	}
	// Times out with nothing new: same index, same (empty) list.
	pairs, idx2, err := c.KVListWait(ctx, "app/", idx, 10*time.Millisecond)
	if err != nil || idx2 != idx || len(pairs) != 0 {
		t.Fatalf("KVListWait timeout = %v %d %v", pairs, idx2, err)
	}
	if _, err := c.KVPut(ctx, "app/a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	pairs, idx2, err = c.KVListWait(ctx, "app/", idx, time.Minute)
	if err != nil || idx2 <= idx || len(pairs) != 1 {
		t.Fatalf("KVListWait after a write = %v %d %v", pairs, idx2, err)
	}
	if ws := b.Waits(); len(ws) != 2 || ws[1].Index != idx {
		t.Errorf("Wait calls %+v", ws)
	}
}

// recorder collects watch events and lets the test wait for them.
type recorder struct {
	ch chan client.KVEvent
}

func (r *recorder) fn(ev client.KVEvent) error {
	r.ch <- ev
	return nil
}

func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case ev := <-r.ch:
		if ev.Deleted {
			return ev.Key + " deleted"
		}
		return ev.Key + "=" + string(ev.Value)
	case <-time.After(60 * time.Second): // a hang, not slowness
		t.Fatal("no watch event")
		return ""
	}
}

func TestKVWatch(t *testing.T) {
	c, b := newAgent(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	put := func(k, v string) {
		t.Helper()
		if _, err := b.Put(context.Background(), k, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	put("app/b", "1")
	put("app/a", "1")
	put("other", "x")
	rec := &recorder{ch: make(chan client.KVEvent, 16)}
	done := make(chan error, 1)
	go func() { done <- c.KVWatch(ctx, "app/", rec.fn) }()

	var got []string
	for range 2 {
		got = append(got, rec.next(t))
	}
	if fmt.Sprint(got) != "[app/a=1 app/b=1]" {
		t.Fatalf("initial events %v", got)
	}
	put("app/a", "2")
	if ev := rec.next(t); ev != "app/a=2" {
		t.Fatalf("event %q, want app/a=2", ev)
	}
	put("other", "y") // outside the prefix: no event
	if _, err := b.Delete(context.Background(), "app/b", false); err != nil {
		t.Fatal(err)
	}
	if ev := rec.next(t); ev != "app/b deleted" {
		t.Fatalf("event %q, want app/b deleted", ev)
	}
	if _, err := b.Delete(context.Background(), "app/", true); err != nil {
		t.Fatal(err)
	}
	if ev := rec.next(t); ev != "app/a deleted" {
		t.Fatalf("event %q, want app/a deleted", ev)
	}
	put("app/c", "3") // a prefix that became empty comes back
	if ev := rec.next(t); ev != "app/c=3" {
		t.Fatalf("event %q, want app/c=3", ev)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("KVWatch = %v, want context.Canceled", err)
	}
	select {
	case ev := <-rec.ch:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

func TestKVWatchStops(t *testing.T) {
	c, b := newAgent(t)
	if _, err := b.Put(context.Background(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	err := c.KVWatch(context.Background(), "", func(client.KVEvent) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("KVWatch = %v, want fn's error", err)
	}
	unreachable, _ := client.New(refusedAddr(t))
	err = unreachable.KVWatch(context.Background(), "", func(client.KVEvent) error { return nil })
	if !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("KVWatch on a closed port = %v", err)
	}
}
