package configsync

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func newState(t testing.TB, node string) *State {
	t.Helper()
	s, err := NewState(StateConfig{Node: node, TombstoneTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// snapshot is everything observable about a State's data.
func snapshot(s *State) []Record {
	var out []Record
	s.Scan("", func(r Record) bool {
		out = append(out, r)
		return true
	})
	return out
}

func TestLimits(t *testing.T) {
	lim := DefaultLimits()
	tests := []struct {
		name    string
		key     string
		value   []byte
		want    error
		wantMsg string
	}{
		{"ok", "a/b/c", []byte("v"), nil, ""},
		{"unicode ok", "région/été", nil, nil, ""},
		{"empty key", "", nil, ErrInvalidKey, "key is empty"},
		{"bad utf8", "a\xffb", nil, ErrInvalidKey, "not valid UTF-8"},
		{"control char", "a\nb", nil, ErrInvalidKey, "control character U+000A"},
		{"del char", "a\x7fb", nil, ErrInvalidKey, "control character"},
		{"c1 control", "a\u0085b", nil, ErrInvalidKey, "control character U+0085"},
		{"key at limit", strings.Repeat("k", 512), nil, nil, ""},
		{"key over limit", strings.Repeat("k", 513), nil, ErrKeyTooLarge, "key is 513 bytes, limit kv.max_key_bytes is 512"},
		{"value at limit", "k", make([]byte, 512<<10), nil, ""},
		{"value over limit", "k", make([]byte, 2<<20), ErrValueTooLarge, "configsync: value is 2097152 bytes, limit kv.max_value_bytes is 524288"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newState(t, "n1")
			s.Put("other", []byte("x"), 0, 1000)
			before, idx, root := snapshot(s), s.Index(), s.Root()
			_, err := s.Put(tc.key, tc.value, 7, 2000)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				if err := lim.CheckKey(tc.key); err != nil {
					t.Fatalf("CheckKey: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Put error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) || !strings.HasPrefix(err.Error(), "configsync: ") {
				t.Fatalf("error %q does not say %q", err, tc.wantMsg)
			}
			if s.Index() != idx || s.Root() != root || len(snapshot(s)) != len(before) {
				t.Fatal("a rejected write changed the state")
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	for _, l := range []Limits{{MaxKeyBytes: 0, MaxValueBytes: 1}, {MaxKeyBytes: MaxKeyBytesCap + 1, MaxValueBytes: 1}, {MaxKeyBytes: 1, MaxValueBytes: MaxValueBytesCap + 1}, {MaxKeyBytes: 1, MaxValueBytes: -1}} {
		if err := l.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", l)
		}
	}
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestStateBasics(t *testing.T) {
	s := newState(t, "n1")
	r1, _ := s.Put("app/a", []byte("1"), 3, 1000)
	r2, _ := s.Put("app/b", []byte("2"), 0, 1000)
	s.Put("other", []byte("3"), 0, 1000)
	if r1.Index != 1 || r2.Index != 2 || r2.Version.Logical != 1 {
		t.Fatalf("indexes/versions: %+v %+v", r1, r2)
	}
	if got, ok := s.Get("app/a"); !ok || string(got.Value) != "1" || got.Flags != 3 {
		t.Fatalf("Get = %+v %v", got, ok)
	}
	if keys := s.Keys("app/"); strings.Join(keys, ",") != "app/a,app/b" {
		t.Fatalf("Keys = %v", keys)
	}
	if _, err := s.Delete("app/a", 1001); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete("app/a", 1001); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Delete("nope", 1001); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of absent: %v", err)
	}
	if _, ok := s.Get("app/a"); ok {
		t.Fatal("deleted key still readable")
	}
	if r, ok := s.Lookup("app/a"); !ok || !r.Deleted {
		t.Fatal("tombstone missing")
	}
	if got := s.IndexOf("app/"); got != 4 {
		t.Fatalf("IndexOf(app/) = %d, want 4", got)
	}
	if got := s.IndexOf("other"); got != 3 {
		t.Fatalf("IndexOf(other) = %d, want 3", got)
	}
	if n := len(s.DeletePrefix("", 1002)); n != 2 {
		t.Fatalf("DeletePrefix deleted %d", n)
	}
	if live, tombs := s.Len(); live != 0 || tombs != 3 {
		t.Fatalf("Len = %d, %d", live, tombs)
	}
}

func TestGCFloorAndReject(t *testing.T) {
	const hour = int64(time.Hour / time.Millisecond)
	a, b := newState(t, "a"), newState(t, "b")
	put, _ := a.Put("k", []byte("old"), 0, 1000)
	b.Merge([]Entry{put.Entry}, 1000)
	del, _ := a.Delete("k", 2000)
	if got := a.GC(2000 + hour - 1); len(got) != 0 {
		t.Fatal("collected before the TTL")
	}
	idx := a.Index()
	if got := a.GC(2000 + hour); len(got) != 1 || got[0].Key != "k" {
		t.Fatalf("GC = %+v", got)
	}
	if a.Index() != idx {
		t.Fatal("GC moved the index")
	}
	if a.Floor() != del.Version {
		t.Fatalf("floor = %v, want %v", a.Floor(), del.Version)
	}
	// b never saw the delete; its old put must not come back to a.
	out := a.Step(&Update{From: "b", Entries: []Entry{put.Entry}}, 3000+hour)
	if len(out.Accepted) != 0 || out.Rejected != 1 || len(out.Replies) != 1 {
		t.Fatalf("resurrection not rejected: %+v", out)
	}
	rej := out.Replies[0].(*Reject)
	if out.To != "b" || rej.Items[0].Key != "k" {
		t.Fatalf("reject = %+v to %q", rej, out.To)
	}
	// b drops its copy on the Reject, and then refuses the same stale copy
	// from anyone else.
	out = b.Step(rej, 3000+hour)
	if len(out.Removed) != 1 {
		t.Fatalf("b did not drop: %+v", out)
	}
	if _, ok := b.Lookup("k"); ok || b.Root() != a.Root() {
		t.Fatal("a and b differ after the reject")
	}
	if out := b.Step(&Update{From: "c", Entries: []Entry{put.Entry}}, 3000+hour); out.Rejected != 1 {
		t.Fatal("b re-accepted the dropped copy")
	}
	// A new write of the key is above the floor and accepted everywhere.
	nw, _ := b.Put("k", []byte("new"), 0, 4000+hour)
	if out := a.Step(&Update{From: "b", Entries: []Entry{nw.Entry}}, 4000+hour); len(out.Accepted) != 1 {
		t.Fatal("new write rejected")
	}
}

func TestRejectKeepsNewer(t *testing.T) {
	s := newState(t, "a")
	r, _ := s.Put("k", []byte("v2"), 0, 5000)
	out := s.Step(&Reject{From: "b", Items: []KeyVersion{{Key: "k", Version: Version{Wall: 4000, Node: "a"}}}}, 6000)
	if len(out.Removed) != 0 {
		t.Fatal("a Reject of an older version dropped a newer entry")
	}
	if got, _ := s.Get("k"); !bytes.Equal(got.Value, r.Value) {
		t.Fatal("entry changed")
	}
}

func TestAnnounceFetch(t *testing.T) {
	a, err := NewState(StateConfig{Node: "a", GossipBudget: 200})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewState(StateConfig{Node: "b", GossipBudget: 200})
	big, _ := a.Put("big", bytes.Repeat([]byte("x"), 1000), 0, 1000)
	small, _ := a.Put("small", []byte("x"), 0, 1000)
	if m, _ := Decode(a.GossipMessage(small.Entry)); m.Kind() != KindUpdate {
		t.Fatalf("small entry gossiped as %v", m.Kind())
	}
	msg, _ := Decode(a.GossipMessage(big.Entry))
	ann, ok := msg.(*Announce)
	if !ok || ann.Size != 1000 {
		t.Fatalf("big entry gossiped as %+v", msg)
	}
	out := b.Step(ann, 1000)
	if len(out.Replies) != 1 || out.To != "a" {
		t.Fatalf("announce: %+v", out)
	}
	// A second announcement (from a relay) is not fetched again at once.
	if again := b.Step(&Announce{From: "c", Key: "big", Version: big.Version}, 1100); len(again.Replies) != 0 {
		t.Fatal("duplicate fetch")
	}
	fo := a.Step(out.Replies[0], 1000)
	if len(fo.Replies) != 1 {
		t.Fatalf("fetch: %+v", fo)
	}
	got := b.Step(fo.Replies[0], 1000)
	if len(got.Accepted) != 1 || !got.Forward || len(got.Gossip) != 1 {
		t.Fatalf("fetched update: %+v", got)
	}
	// b re-announces from itself.
	if m, _ := Decode(b.GossipMessage(got.Gossip[0])); m.(*Announce).From != "b" {
		t.Fatalf("relay announce %+v", m)
	}
	if out := b.Step(ann, 1200); len(out.Replies) != 0 {
		t.Fatal("fetched an entry already held")
	}
}

func TestSummaryTieBreak(t *testing.T) {
	a, b, empty := newState(t, "a"), newState(t, "b"), newState(t, "c")
	a.Put("x", []byte("1"), 0, 1000)
	b.Put("y", []byte("2"), 0, 1000)
	if out := a.Step(ptr(b.Summary()), 1000); !out.SyncStarted || out.Replies[0].Kind() != KindSyncBuckets {
		t.Fatalf("a (smaller) did not start: %+v", out)
	}
	if out := b.Step(ptr(a.Summary()), 1000); out.SyncStarted || len(out.Replies) != 0 {
		t.Fatalf("b (larger) started: %+v", out)
	}
	// Anyone sends everything to an empty peer, and the empty one waits.
	if out := b.Step(ptr(empty.Summary()), 1000); !out.SyncStarted || !out.Transfer || out.To != "c" || len(out.Replies) != 0 {
		t.Fatalf("no full transfer to empty peer: %+v", out)
	}
	if out := empty.Step(ptr(b.Summary()), 1000); len(out.Replies) != 0 {
		t.Fatalf("empty peer started: %+v", out)
	}
	if out := a.Step(ptr(a.Summary()), 1000); len(out.Replies) != 0 {
		t.Fatal("reacted to its own summary")
	}
}

func ptr[T any](v T) *T { return &v }

func TestNewStateValidates(t *testing.T) {
	for _, c := range []StateConfig{{}, {Node: strings.Repeat("n", 300)}, {Node: "a", GossipBudget: 10}, {Node: "a", ChunkBytes: 10}} {
		if _, err := NewState(c); err == nil {
			t.Errorf("NewState(%+v) accepted", c)
		}
	}
}
