package configsync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleMessages() []Message {
	v1 := Version{Wall: 1_700_000_000_123, Logical: 2, Node: "node-a"}
	v2 := Version{Wall: MaxWall, Logical: 4294967295, Node: "node-b"}
	sb := &SyncBuckets{From: "node-a", Session: 7, Salt: 0xdeadbeefcafe}
	for i := range sb.Hashes {
		sb.Hashes[i] = uint32(i * 2654435761)
	}
	bg := BucketGroups{Bucket: 200}
	for i := range bg.Hashes {
		bg.Hashes[i] = uint16(i * 40503)
	}
	gl := GroupLeaves{Group: 4095}
	for i := range gl.Hashes {
		gl.Hashes[i] = uint16(i * 977)
	}
	return []Message{
		&Update{From: "node-a", Entries: []Entry{
			{Key: "a/b", Value: []byte("hello"), Version: v1, Flags: 42},
			{Key: "a/c", Version: v2, Deleted: true},
			{Key: "é", Version: v1},
		}},
		&Update{From: "node-a"},
		&Announce{From: "node-b", Key: "big", Version: v1, Size: 1 << 20},
		&Fetch{From: "node-a", Key: "big", Version: v2},
		&Summary{Node: "node-a", Root: 0x0123456789abcdef, Count: 100000, Floor: v2},
		&Summary{Node: "node-a"},
		sb,
		&SyncGroups{From: "node-b", Session: 7, Salt: 3, Buckets: []BucketGroups{bg, {Bucket: 1}}},
		&SyncLeaves{From: "node-a", Session: 7, Salt: 3, Groups: []GroupLeaves{gl, {Group: 17}}},
		&SyncKeys{From: "node-a", Session: 7, Salt: 11, Leaves: []LeafKeys{
			{Leaf: 0xc801, Keys: []HashVersion{{Hash: 0xc801000000000001, Version: v1, Content: 5}, {Hash: 0xc801ffffffffffff, Version: v2, Content: 1<<32 - 1}}},
			{Leaf: 3},
		}},
		&SyncEntries{From: "node-b", Session: 9, Entries: []Entry{{Key: "x", Value: []byte{0, 1}, Version: v2}}, Want: []uint64{1, 1 << 63}},
		&SyncEntries{From: "node-b", Session: 9},
		&SyncEntries{From: "node-b", Session: 9, Final: true, Floor: v1, Total: 12345},
		&Reject{From: "node-a", Floor: v2, Items: []KeyVersion{{Key: "k1", Version: v1}, {Key: "k2", Version: v2}}},
		&Reject{From: "node-a", Items: []KeyVersion{}},
	}
}

func TestWireRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.Kind().String(), func(t *testing.T) {
			b := Encode(m)
			if b[0] != ProtocolVersion || Kind(b[1]) != m.Kind() {
				t.Fatalf("header % x", b[:2])
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(m)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
			}
			// Decoded messages do not alias the input.
			for i := range b {
				b[i] = 0xff
			}
			if !reflect.DeepEqual(normalize(got), normalize(m)) {
				t.Fatal("decoded message shares memory with its input")
			}
		})
	}
}

// normalize maps empty slices to nil so DeepEqual compares content.
func normalize(m Message) Message {
	switch m := m.(type) {
	case *Update:
		c := *m
		if len(c.Entries) == 0 {
			c.Entries = nil
		}
		return &c
	case *SyncEntries:
		c := *m
		if len(c.Entries) == 0 {
			c.Entries = nil
		}
		if len(c.Want) == 0 {
			c.Want = nil
		}
		return &c
	case *SyncKeys:
		c := *m
		c.Leaves = append([]LeafKeys(nil), m.Leaves...)
		for i := range c.Leaves {
			if len(c.Leaves[i].Keys) == 0 {
				c.Leaves[i].Keys = nil
			}
		}
		return &c
	}
	return m
}

func TestWireTruncatedNeverPanics(t *testing.T) {
	for _, m := range sampleMessages() {
		b := Encode(m)
		for n := 0; n < len(b); n++ {
			if _, err := Decode(b[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v truncated to %d of %d bytes: err %v", m.Kind(), n, len(b), err)
			}
		}
		if _, err := Decode(append(b, 0)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "trailing") {
			t.Fatalf("%v with a trailing byte: %v", m.Kind(), err)
		}
	}
}

func TestWireMalformed(t *testing.T) {
	hdr := func(k Kind, nodes ...string) []byte {
		b := []byte{ProtocolVersion, byte(k)}
		b = binary.AppendUvarint(b, uint64(len(nodes)))
		for _, n := range nodes {
			b = binary.AppendUvarint(b, uint64(len(n)))
			b = append(b, n...)
		}
		return b
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	entry := func(key string, deleted byte, value string) []byte {
		return cat(uv(uint64(len(key))), []byte(key), []byte{2, 0, 0}, []byte{0}, []byte{deleted}, uv(uint64(len(value))), []byte(value))
	}
	tests := []struct {
		name string
		msg  []byte
		want string
	}{
		{"empty", nil, "shorter than the 2-byte header"},
		{"future version", []byte{3, 1, 0}, "protocol version 3"},
		{"old version", []byte{1, 1, 0}, "protocol version 1"},
		{"wall beyond year 9999", cat(hdr(KindFetch, "a"), uv(0), uv(1), []byte("k"), binary.AppendVarint(nil, MaxWall+1), uv(0), uv(0)), "outside [0,"},
		{"negative wall", cat(hdr(KindFetch, "a"), uv(0), uv(1), []byte("k"), binary.AppendVarint(nil, -5), uv(0), uv(0)), "outside [0,"},
		{"max wall", cat(hdr(KindFetch, "a"), uv(0), uv(1), []byte("k"), binary.AppendVarint(nil, 1<<63-1), uv(0), uv(0)), "outside [0,"},
		{"reject floor presence", cat(hdr(KindReject, "a"), uv(0), []byte{7}), "presence byte"},
		{"unknown kind", []byte{ProtocolVersion, 0x7f, 0}, "unknown kind 127"},
		{"kind zero", []byte{ProtocolVersion, 0, 0}, "unknown kind 0"},
		{"oversized", make([]byte, MaxMessageBytes+1), "limit is"},
		{"huge node count", cat([]byte{ProtocolVersion, byte(KindUpdate)}, uv(1<<40)), "node table count"},
		{"empty node name", cat(hdr(KindUpdate, ""), uv(0), uv(0)), "node name"},
		{"node ref out of table", cat(hdr(KindUpdate, "a"), uv(5), uv(0)), "not in the table"},
		{"huge entry count", cat(hdr(KindUpdate, "a"), uv(0), uv(1<<62)), "entries count"},
		{"bad key", cat(hdr(KindUpdate, "a"), uv(0), uv(1), entry("a\x00", 0, "")), "control character"},
		{"empty key", cat(hdr(KindUpdate, "a"), uv(0), uv(1), entry("", 0, "")), "key is empty"},
		{"key over cap", cat(hdr(KindUpdate, "a"), uv(0), uv(1), uv(MaxKeyBytesCap+1), make([]byte, 10)), "exceeds limit"},
		{"tombstone with value", cat(hdr(KindUpdate, "a"), uv(0), uv(1), entry("k", 1, "v")), "tombstone with"},
		{"deleted flag 2", cat(hdr(KindUpdate, "a"), uv(0), uv(1), entry("k", 2, "")), "deleted flag"},
		{"value length lies", cat(hdr(KindUpdate, "a"), uv(0), uv(1), uv(1), []byte("k"), []byte{2, 0, 0, 0, 0}, uv(1000), []byte("v")), "truncated"},
		{"value over cap", cat(hdr(KindUpdate, "a"), uv(0), uv(1), uv(1), []byte("k"), []byte{2, 0, 0, 0, 0}, uv(MaxValueBytesCap+1)), "exceeds limit"},
		{"logical over 32 bits", cat(hdr(KindFetch, "a"), uv(0), uv(1), []byte("k"), []byte{2}, uv(1<<33), uv(0)), "exceeds 32 bits"},
		{"bad varint", cat(hdr(KindFetch, "a"), uv(0), uv(1), []byte("k"), bytes.Repeat([]byte{0xff}, 11)), "bad varint"},
		{"summary floor flag", cat(hdr(KindSummary, "a"), uv(0), make([]byte, 8), uv(0), []byte{9}), "summary flags"},
		{"short bucket hashes", cat(hdr(KindSyncBuckets, "a"), uv(0), uv(1), make([]byte, 8), make([]byte, 100)), "bucket hashes"},
		{"too many buckets", cat(hdr(KindSyncGroups, "a"), uv(0), uv(1), make([]byte, 8), uv(257), make([]byte, 257*33)), "257 buckets"},
		{"group out of range", cat(hdr(KindSyncLeaves, "a"), uv(0), uv(1), make([]byte, 8), uv(1), []byte{0x00, 0x10}, make([]byte, 32)), "group 4096 out of range"},
		{"too many groups", cat(hdr(KindSyncLeaves, "a"), uv(0), uv(1), make([]byte, 8), uv(4097), make([]byte, 4097*34)), "4097 groups"},
		{"leaf keys count lies", cat(hdr(KindSyncKeys, "a"), uv(0), uv(1), make([]byte, 8), uv(1), []byte{1, 2}, uv(1000)), "leaf keys count"},
		{"want count lies", cat(hdr(KindSyncEntries, "a"), uv(0), uv(1), []byte{0}, uv(0), uv(3), make([]byte, 16)), "want count"},
		{"sync entries flags", cat(hdr(KindSyncEntries, "a"), uv(0), uv(1), []byte{4}, uv(0), uv(0)), "sync entries flags"},
		{"announce size", cat(hdr(KindAnnounce, "a"), uv(0), uv(1), []byte("k"), []byte{2, 0, 0}, uv(1<<33)), "size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.msg)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "configsync: malformed") {
				t.Fatalf("err %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, e := range []Entry{
		{Key: "k", Value: []byte("v"), Version: Version{Wall: 1, Logical: 2, Node: "n"}, Flags: 9},
		{Key: "k", Version: Version{Wall: 0, Node: "n"}, Deleted: true},
		{Key: "k", Version: Version{Wall: MaxWall, Node: "n"}},
	} {
		got, err := decodeRecord([]byte(e.Key), encodeRecord(&e), false)
		if err != nil || compareEntries(got, e) != 0 || got.Deleted != e.Deleted {
			t.Fatalf("record round trip %+v: %+v %v", e, got, err)
		}
		b := encodeRecord(&e)
		for n := range len(b) {
			if _, err := decodeRecord([]byte(e.Key), b[:n], false); err == nil {
				t.Fatalf("truncated record (%d of %d) decoded", n, len(b))
			}
		}
		// Every single-bit flip, in the record or the key, is caught.
		for i := range len(b) * 8 {
			c := bytes.Clone(b)
			c[i/8] ^= 1 << (i % 8)
			if _, err := decodeRecord([]byte(e.Key), c, false); err == nil {
				t.Fatalf("record with bit %d flipped decoded", i)
			}
		}
		if _, err := decodeRecord([]byte("K"), b, false); err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("record under another key: %v", err)
		}
	}
}

func TestLegacyRecordReadOnlyToMigrate(t *testing.T) {
	legacy := []byte{recordFormatV1, 2, 0, 1, 'n', 0, 0, 'v'} // wall 1, logical 0, node n, flags 0, live, "v"
	e, err := decodeRecord([]byte("k"), legacy, true)
	if err != nil || string(e.Value) != "v" || e.Version != (Version{Wall: 1, Node: "n"}) {
		t.Fatalf("legacy record: %+v, %v", e, err)
	}
	if _, err := decodeRecord([]byte("k"), legacy, false); err == nil {
		t.Fatal("a format 1 record was accepted in a schema 2 store")
	}
}

func TestAnnounceOverheadBound(t *testing.T) {
	m := &Announce{From: strings.Repeat("n", MaxNodeBytes), Key: strings.Repeat("k", MaxKeyBytesCap),
		Version: Version{Wall: -1 << 62, Logical: 1<<32 - 1, Node: strings.Repeat("m", MaxNodeBytes)}, Size: 1<<32 - 1}
	if n := len(Encode(m)); n > MaxKeyBytesCap+AnnounceOverhead {
		t.Fatalf("announce of %d bytes exceeds the overhead bound", n)
	}
}
