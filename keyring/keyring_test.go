package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/query"
)

const (
	testKey1 = "MTIzNDU2Nzg5MDEyMzQ1Ng=="                     // 16 bytes
	testKey2 = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY=" // 32 bytes
)

// alone is a cluster of this agent only: Ask answers with the local
// handler, as query.Queries does when there are no other members.
type alone struct{ h query.Handler }

func (a *alone) Handle(_ query.Kind, h query.Handler, _ query.Options) { a.h = h }
func (a *alone) Ask(_ context.Context, _ query.Kind, q []byte, _ time.Duration) (map[string]query.Result, error) {
	ans, err := a.h("self", q)
	return map[string]query.Result{"self": {Answer: ans, Err: err}}, nil
}

func open(t *testing.T, dir, key string) *Keyring {
	t.Helper()
	k := New(Config{Node: "self", DataDir: dir, Key: key, Cluster: &alone{}})
	if _, err := k.Open(); err != nil {
		t.Fatal(err)
	}
	return k
}

func ring(k *Keyring) string {
	var out []string
	for _, key := range k.Keys() {
		out = append(out, base64.StdEncoding.EncodeToString(key))
	}
	return strings.Join(out, ",")
}

func TestChangesPersistAndWinOverConfig(t *testing.T) {
	dir := t.TempDir()
	k := open(t, dir, testKey1)
	k2, _ := DecodeKey(testKey2)
	ctx := context.Background()
	for _, op := range []Op{OpInstall, OpUse} {
		if resp, err := k.Change(ctx, op, k2); err != nil || resp.Acked != 1 {
			t.Fatalf("%v: %+v %v", op, resp, err)
		}
	}
	if _, err := k.Change(ctx, OpRemove, k2); !errors.Is(err, ErrPrimaryKey) {
		t.Fatalf("remove the primary: %v", err)
	}
	list, err := k.List(ctx)
	if err != nil || len(list.Keys) != 2 || list.Keys[0].Installed != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	// Opened again with the old gossip.key, the keyring keeps the rotation.
	if got := ring(open(t, dir, testKey1)); got != testKey2+","+testKey1 {
		t.Fatalf("ring after reopening %s", got)
	}
	// A corrupt file is an error naming it.
	os.WriteFile(filepath.Join(dir, FileName), []byte(`["not base64"]`), 0o600)
	if _, err := New(Config{DataDir: dir, Key: testKey1, Cluster: &alone{}}).Open(); err == nil || !strings.Contains(err.Error(), FileName) || !strings.Contains(err.Error(), "key 0") {
		t.Fatalf("open a corrupt keyring file: %v", err)
	}
}

func TestNeedsEncryption(t *testing.T) {
	k := open(t, "", "")
	k1, _ := DecodeKey(testKey1)
	if _, err := k.Change(context.Background(), OpInstall, k1); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("install without encryption: %v", err)
	}
	if _, err := k.List(context.Background()); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("list without encryption: %v", err)
	}
	if k.Encrypted() || k.cfg.Cluster.(*alone).h == nil {
		t.Fatal("not registered, or encrypted without a key")
	}
	// A request that reaches an unencrypted agent is not acted on.
	if _, err := k.answer("other", encodeRequest(OpInstall, k1)); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("request without encryption: %v", err)
	}
}

func TestRemoveKeyKeepsOrder(t *testing.T) {
	keys := [][]byte{bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16), bytes.Repeat([]byte{3}, 16), bytes.Repeat([]byte{4}, 16)}
	k := &Keyring{}
	var err error
	if k.ring, err = newRing(keys); err != nil {
		t.Fatal(err)
	}
	if err := removeKey(k.ring, keys[1]); err != nil {
		t.Fatal(err)
	}
	got := k.Keys()
	if len(got) != 3 || !bytes.Equal(got[0], keys[0]) || !bytes.Equal(got[1], keys[2]) || !bytes.Equal(got[2], keys[3]) {
		t.Fatalf("ring after removing the second key: %v", got)
	}
}

func sampleMessages() (requests, answers [][]byte) {
	k16, k32 := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 32)
	return [][]byte{
			encodeRequest(OpList, nil),
			encodeRequest(OpInstall, k32),
			encodeRequest(OpUse, k16),
			encodeRequest(OpRemove, k16),
		}, [][]byte{
			encodeAnswer([][]byte{k32, k16}),
			encodeAnswer(nil),
		}
}

func TestMessagesRoundTrip(t *testing.T) {
	reqs, answers := sampleMessages()
	for _, m := range reqs {
		op, key, err := decodeRequest(m)
		if err != nil || !bytes.Equal(encodeRequest(op, key), m) {
			t.Fatalf("% x: %v", m, err)
		}
	}
	for _, m := range answers {
		keys, err := decodeAnswer(m)
		if err != nil || !bytes.Equal(encodeAnswer(keys), m) {
			t.Fatalf("% x: %v", m, err)
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "op"},
		{"op", append([]byte{'X'}, make([]byte, 17)...), "unknown op"},
		{"short key", encodeRequest(OpUse, []byte{1, 2, 3}), "3 bytes, want 16, 24 or 32"},
		{"no key", encodeRequest(OpUse, nil), "key is empty"},
		{"list with key", encodeRequest(OpList, make([]byte, 16)), "list carries a key"},
		{"trailing", append(encodeRequest(OpList, nil), 0), "trailing"},
		{"truncated key", encodeRequest(OpUse, make([]byte, 16))[:10], "want 16 bytes, 8 left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeRequest(tc.b)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := decodeAnswer([]byte{MaxKeys + 1}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("too many keys: %v", err)
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{}`, "JSON array"},
		{`[]`, "no keys"},
		{`["` + testKey1 + `","` + testKey1 + `"]`, "repeats"},
		{`["YWJj"]`, "decodes to 3 bytes"},
	} {
		if _, err := DecodeFile([]byte(tc.body)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.body, err, tc.want)
		}
	}
	keys, err := DecodeFile(EncodeFile([][]byte{bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 24)}))
	if err != nil || len(keys) != 2 {
		t.Fatalf("round trip: %v %v", keys, err)
	}
}
