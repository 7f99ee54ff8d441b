package agent

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

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
)

const (
	testKey1 = "MTIzNDU2Nzg5MDEyMzQ1Ng=="                     // 16 bytes
	testKey2 = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY=" // 32 bytes
	testKey3 = "cXdlcnR5dWlvcGFzZGZnaGprbHp4Y3Y="             // 24 bytes
)

func keyedConfig(t *testing.T, name, key string) Config {
	c := testConfig(name)
	// Failure detection relaxed: these tests are about keys, and a member
	// wrongly declared failed on a loaded machine only adds noise.
	d := func(v time.Duration) *client.Duration { x := client.Duration(v); return &x }
	c.Gossip.ProbeInterval, c.Gossip.ProbeTimeout = d(500*time.Millisecond), d(250*time.Millisecond)
	c.Gossip.SuspicionMult = nil
	c.Gossip.Key = key
	c.Dev = false
	c.DataDir = t.TempDir()
	return c
}

func ringOf(a *Agent) []string {
	var out []string
	for _, k := range a.sec.keys.keys() {
		out = append(out, base64.StdEncoding.EncodeToString(k))
	}
	return out
}

func fileRing(t *testing.T, a *Agent) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.cfg.DataDir, keyringFile))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := decodeKeyringFile(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, base64.StdEncoding.EncodeToString(k))
	}
	return out
}

func TestKeyringRotation(t *testing.T) {
	var as []*Agent
	for _, n := range []string{"a", "b", "c"} {
		as = append(as, startAgent(t, keyedConfig(t, n, testKey1)))
	}
	joinAll(t, as)
	kr := apiKeyring{as[0].sec.keys}
	ctx := context.Background()

	step := func(op httpapi.KeyringOp, key string, want ...string) {
		t.Helper()
		resp, err := kr.Change(ctx, op, key)
		if err != nil || resp.Acked != 3 || len(resp.Failed) != 0 {
			t.Fatalf("%s: %+v %v", op, resp, err)
		}
		for _, a := range as {
			if got := strings.Join(ringOf(a), ","); got != strings.Join(want, ",") {
				t.Fatalf("%s: ring of %s is %s, want %v", op, a.Name(), got, want)
			}
			if got := strings.Join(fileRing(t, a), ","); got != strings.Join(want, ",") {
				t.Fatalf("%s: file of %s is %s", op, a.Name(), got)
			}
		}
	}
	step(httpapi.KeyringInstall, testKey2, testKey1, testKey2)
	list, err := kr.List(ctx)
	if err != nil || len(list.Keys) != 2 || list.Keys[0].Installed != 3 {
		t.Fatalf("list: %+v %v", list, err)
	}
	step(httpapi.KeyringUse, testKey2, testKey2, testKey1)
	// Removing the primary is refused, here and cluster-wide.
	if _, err := kr.Change(ctx, httpapi.KeyringRemove, testKey2); !errors.Is(err, httpapi.ErrConflict) || !errors.Is(err, ErrPrimaryKey) {
		t.Fatalf("remove primary: %v", err)
	}
	step(httpapi.KeyringRemove, testKey1, testKey2)

	// The cluster still works on the new key: a write spreads.
	if _, err := as[1].store.Put(ctx, "after/rotation", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the write to spread", func() bool {
		_, err := as[2].store.Get("after/rotation")
		return err == nil
	})
	// Only the new key joins.
	old := startAgent(t, keyedConfig(t, "old", testKey1))
	jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if n, err := old.Join(jctx, []string{addr(as[0])}); err == nil || n != 0 {
		t.Fatalf("an agent with the removed key joined (n=%d)", n)
	}
	fresh := startAgent(t, keyedConfig(t, "fresh", testKey2))
	if _, err := fresh.Join(jctx, []string{addr(as[0])}); err != nil {
		t.Fatalf("an agent with the new key: %v", err)
	}
}

func TestKeyringPersistsAndWinsOverConfig(t *testing.T) {
	cfg := keyedConfig(t, "p", testKey1)
	a := startAgent(t, cfg)
	if _, err := (apiKeyring{a.sec.keys}).Change(context.Background(), httpapi.KeyringInstall, testKey2); err != nil {
		t.Fatal(err)
	}
	if _, err := (apiKeyring{a.sec.keys}).Change(context.Background(), httpapi.KeyringUse, testKey2); err != nil {
		t.Fatal(err)
	}
	a.Shutdown()
	// Restarted with the old gossip.key, the agent keeps the rotated ring.
	b := startAgent(t, cfg)
	if got := strings.Join(ringOf(b), ","); got != testKey2+","+testKey1 {
		t.Fatalf("ring after restart %s", got)
	}
	// A corrupt file is an error naming it, and the agent does not start.
	os.WriteFile(filepath.Join(cfg.DataDir, keyringFile), []byte(`["not base64"]`), 0o600)
	b.Shutdown()
	c, err := New(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	if err := c.Start(); err == nil || !strings.Contains(err.Error(), keyringFile) || !strings.Contains(err.Error(), "key 0") {
		t.Fatalf("start with a corrupt keyring file: %v", err)
	}
}

func TestKeyringNeedsEncryption(t *testing.T) {
	a := startAgent(t, testConfig("plain"))
	_, err := (apiKeyring{a.sec.keys}).Change(context.Background(), httpapi.KeyringInstall, testKey1)
	if !errors.Is(err, httpapi.ErrConflict) || !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("install without encryption: %v", err)
	}
	if _, err := (apiKeyring{a.sec.keys}).List(context.Background()); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("list without encryption: %v", err)
	}
	// A request that reaches an unencrypted agent is never acted on.
	req := &keyringRequest{op: opInstall, id: 1, sentMs: time.Now().UnixMilli(), origin: "x", key: bytes.Repeat([]byte{1}, 16)}
	a.sec.keys.handle(req.encode())
	if a.sec.keys.dropped.Load() != 1 || a.GossipEncrypted() {
		t.Fatal("request acted on without encryption")
	}
}

func TestKeyringReplayRefused(t *testing.T) {
	k := &keyring{seen: map[uint64]seenRequest{}}
	now := time.Unix(1_700_000_000, 0)
	req := &keyringRequest{op: opUse, id: 7, sentMs: now.UnixMilli()}
	if ans, err := k.admit(req, now); err != nil || ans != nil {
		t.Fatal(ans, err)
	}
	// The same request again, while it is being applied: refused.
	if _, err := k.admit(req, now.Add(time.Second)); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("same request twice: %v", err)
	}
	// Once answered, a repeat gets the same answer and is not applied.
	first := &keyringAnswer{id: 7, node: "n", ok: true}
	k.remember(7, first)
	if ans, err := k.admit(req, now.Add(time.Second)); err != nil || ans != first {
		t.Fatalf("repeat after the answer: %v %v", ans, err)
	}
	old := &keyringRequest{op: opUse, id: 8, sentMs: now.Add(-10 * time.Minute).UnixMilli()}
	if _, err := k.admit(old, now); err == nil || !strings.Contains(err.Error(), "clock") {
		t.Fatalf("old request: %v", err)
	}
	// Ids are forgotten after the window, but then the time refuses them.
	if _, err := k.admit(req, now.Add(time.Hour)); err == nil {
		t.Fatal("request accepted an hour later")
	}
}

func TestRemoveKeyKeepsOrder(t *testing.T) {
	keys := [][]byte{bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16), bytes.Repeat([]byte{3}, 16), bytes.Repeat([]byte{4}, 16)}
	k := &keyring{a: &Agent{cfg: Config{NodeName: "n"}}}
	var err error
	if k.ring, err = newMemberlistKeyring(keys); err != nil {
		t.Fatal(err)
	}
	if err := removeKey(k.ring, keys[1]); err != nil {
		t.Fatal(err)
	}
	got := k.keys()
	if len(got) != 3 || !bytes.Equal(got[0], keys[0]) || !bytes.Equal(got[1], keys[2]) || !bytes.Equal(got[2], keys[3]) {
		t.Fatalf("ring after removing the second key: %v", got)
	}
}

func TestPlaintextRefusedOffLoopback(t *testing.T) {
	for _, tc := range []struct {
		name, bind, advertise, key string
		allow, refused             bool
	}{
		{"loopback", "127.0.0.1:7946", "", "", false, false},
		{"loopback v6", "[::1]:7946", "", "", false, false},
		{"any address", "0.0.0.0:7946", "", "", false, true},
		{"private", "10.0.0.5:7946", "", "", false, true},
		{"advertised beyond", "127.0.0.1:7946", "10.0.0.5:7946", "", false, true},
		{"keyed", "0.0.0.0:7946", "", testKey1, false, false},
		{"opt-out", "0.0.0.0:7946", "", "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.BindAddr, c.AdvertiseAddr, c.Gossip.AllowPlaintext = tc.bind, tc.advertise, tc.allow
			err := c.checkPlaintext(tc.key != "")
			if (err != nil) != tc.refused {
				t.Fatalf("err = %v, refused want %v", err, tc.refused)
			}
			if err != nil {
				msg := err.Error()
				for _, want := range []string{"agentctl keygen", "gossip.key", "gossip.allow_plaintext = true"} {
					if !strings.Contains(msg, want) {
						t.Errorf("%q lacks %q", msg, want)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("message is not one line: %q", msg)
				}
			}
		})
	}
	// Start refuses before binding anything.
	c := testConfig("adv")
	c.AdvertiseAddr = "10.0.0.5:7946"
	a, err := New(c, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	if err := a.Start(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "10.0.0.5:7946") {
		t.Fatalf("Start = %v", err)
	}
}

func TestKeyringMessagesRoundTrip(t *testing.T) {
	for _, m := range sampleKeyringMessages() {
		got, err := decodeKeyringMsg(m)
		if err != nil {
			t.Fatalf("% x: %v", m, err)
		}
		var again []byte
		switch v := got.(type) {
		case *keyringRequest:
			again = v.encode()
		case *keyringAnswer:
			again = v.encode()
		}
		if !bytes.Equal(again, m) {
			t.Fatalf("round trip:\n% x\n% x", m, again)
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "version"},
		{"version", []byte{9, 'q'}, "version 9"},
		{"kind", []byte{1, 'z'}, "unknown kind"},
		{"op", append([]byte{1, 'q', 'X'}, make([]byte, 16)...), "unknown op"},
		{"short key", (&keyringRequest{op: opUse, origin: "n", key: []byte{1, 2, 3}}).encode(), "3 bytes, want 16, 24 or 32"},
		{"list with key", (&keyringRequest{op: opList, origin: "n", key: make([]byte, 16)}).encode(), "list carries a key"},
		{"no origin", (&keyringRequest{op: opList}).encode(), "origin is empty"},
		{"trailing", append((&keyringRequest{op: opList, origin: "n"}).encode(), 0), "trailing"},
		{"truncated answer", (&keyringAnswer{node: "n", keys: [][]byte{make([]byte, 16)}}).encode()[:20], "want"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeKeyringMsg(tc.b)
			if !errors.Is(err, ErrMalformedKeyring) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func sampleKeyringMessages() [][]byte {
	k16, k32 := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 32)
	return [][]byte{
		(&keyringRequest{op: opList, id: 1, sentMs: 1700000000000, origin: "node-1"}).encode(),
		(&keyringRequest{op: opInstall, id: 2, sentMs: 1700000000000, origin: "node-1", key: k32}).encode(),
		(&keyringRequest{op: opUse, id: 3, origin: "n", key: k16}).encode(),
		(&keyringRequest{op: opRemove, id: 4, origin: "n", key: k16}).encode(),
		(&keyringAnswer{id: 1, node: "node-2", ok: true, keys: [][]byte{k32, k16}}).encode(),
		(&keyringAnswer{id: 2, node: "node-3", msg: "agent: key is not installed"}).encode(),
	}
}

func TestKeyringFileErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{}`, "JSON array"},
		{`[]`, "no keys"},
		{`["` + testKey1 + `","` + testKey1 + `"]`, "repeats"},
		{`["YWJj"]`, "decodes to 3 bytes"},
	} {
		if _, err := decodeKeyringFile([]byte(tc.body)); !errors.Is(err, ErrMalformedKeyring) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.body, err, tc.want)
		}
	}
	keys, err := decodeKeyringFile(encodeKeyringFile([][]byte{bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 24)}))
	if err != nil || len(keys) != 2 {
		t.Fatalf("round trip: %v %v", keys, err)
	}
}
