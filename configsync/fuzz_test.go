package configsync

import (
	"bytes"
	"errors"
	"testing"
)

// Run one with: go test -run='^$' -fuzz=FuzzDecodeUpdate -fuzztime=20s ./configsync/

// fuzzDecode checks that Decode never panics, that every error wraps
// ErrMalformed, and that what it accepts re-encodes to a canonical form
// that decodes to the same message.
func fuzzDecode(f *testing.F, kind Kind) {
	for _, m := range sampleMessages() {
		if kind == 0 || m.Kind() == kind {
			f.Add(Encode(m))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if kind != 0 && len(b) >= 2 {
			b = append([]byte{ProtocolVersion, byte(kind)}, b[2:]...)
		}
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		e1 := Encode(m)
		m2, err := Decode(e1)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if e2 := Encode(m2); !bytes.Equal(e1, e2) {
			t.Fatalf("encoding not canonical:\n% x\n% x", e1, e2)
		}
		if len(e1) > len(b)+8 {
			t.Fatalf("decoded %d bytes into a message encoding to %d", len(b), len(e1))
		}
	})
}

func FuzzDecode(f *testing.F)            { fuzzDecode(f, 0) }
func FuzzDecodeUpdate(f *testing.F)      { fuzzDecode(f, KindUpdate) }
func FuzzDecodeAnnounce(f *testing.F)    { fuzzDecode(f, KindAnnounce) }
func FuzzDecodeFetch(f *testing.F)       { fuzzDecode(f, KindFetch) }
func FuzzDecodeSummary(f *testing.F)     { fuzzDecode(f, KindSummary) }
func FuzzDecodeSyncBuckets(f *testing.F) { fuzzDecode(f, KindSyncBuckets) }
func FuzzDecodeSyncGroups(f *testing.F)  { fuzzDecode(f, KindSyncGroups) }
func FuzzDecodeSyncLeaves(f *testing.F)  { fuzzDecode(f, KindSyncLeaves) }
func FuzzDecodeSyncKeys(f *testing.F)    { fuzzDecode(f, KindSyncKeys) }
func FuzzDecodeSyncEntries(f *testing.F) { fuzzDecode(f, KindSyncEntries) }
func FuzzDecodeReject(f *testing.F)      { fuzzDecode(f, KindReject) }

// FuzzDecodeRecord covers the on-disk record decoder.
func FuzzDecodeRecord(f *testing.F) {
	for _, e := range []Entry{
		{Key: "k", Value: []byte("v"), Version: Version{Wall: 1, Logical: 2, Node: "n"}, Flags: 9},
		{Key: "k", Version: Version{Wall: 0, Node: "n"}, Deleted: true},
	} {
		f.Add([]byte(e.Key), encodeRecord(&e))
	}
	f.Fuzz(func(t *testing.T, key, b []byte) {
		e, err := decodeRecord(key, b, len(b) > 0 && b[0] == recordFormatV1)
		if err != nil {
			return
		}
		got, err := decodeRecord(key, encodeRecord(&e), false)
		if err != nil || compareEntries(got, e) != 0 {
			t.Fatalf("record does not round trip: %+v vs %+v (%v)", got, e, err)
		}
	})
}

// FuzzStep feeds arbitrary decodable messages to a State with data: it
// must never panic, and its digest must stay consistent.
func FuzzStep(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(Encode(m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		s, _ := NewState(StateConfig{Node: "self", ChunkBytes: 1024})
		s.Put("a/b", []byte("x"), 0, 1000)
		s.Put("k1", []byte("y"), 0, 1000)
		s.Delete("k1", 1001)
		out := s.Step(m, 2000)
		for _, r := range out.Replies {
			if _, err := Decode(Encode(r)); err != nil {
				t.Fatalf("reply does not decode: %v", err)
			}
		}
		var fresh tree
		s.Scan("", func(r Record) bool {
			e := r.Entry
			kh := keyHash(e.Key)
			fresh.add(newRecord(e, 0, kh))
			return true
		})
		if fresh.root != s.Root() {
			t.Fatal("digest inconsistent after Step")
		}
	})
}

// FuzzDecodeMeta covers the sealed meta values (clock, floor, index) and
// the records of the marks bucket (name is then the key).
func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte("clock"), sealMeta([]byte("clock"), encodeMetaVersion(Version{Wall: 5, Logical: 1, Node: "n"})))
	f.Add([]byte("index"), sealMeta([]byte("index"), []byte{0x80, 0x01}))
	f.Add([]byte("k7"), encodeMark([]byte("k7"), Version{Wall: 1_700_000_005_465, Logical: 1, Node: "n0"}))
	f.Fuzz(func(t *testing.T, name, b []byte) {
		if v, err := decodeMark(name, b); err == nil {
			if got, err := decodeMark(name, encodeMark(name, v)); err != nil || got != v {
				t.Fatalf("mark %v does not round trip: %v, %v", v, got, err)
			}
		}
		p, err := openMeta(name, b)
		if err != nil {
			return
		}
		if v, err := decodeMetaVersion(p); err == nil {
			if got, _ := openMeta(name, sealMeta(name, encodeMetaVersion(v))); got == nil && !v.IsZero() {
				t.Fatal("meta version does not round trip")
			}
		}
	})
}
