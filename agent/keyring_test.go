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
	"github.com/murmurhq/murmur/keyring"
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
	for _, k := range a.sec.keys.Keys() {
		out = append(out, base64.StdEncoding.EncodeToString(k))
	}
	return out
}

func fileRing(t *testing.T, a *Agent) []string {
	t.Helper()
	keys, err := keyring.Load(a.cfg.DataDir)
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
	if _, err := kr.Change(ctx, httpapi.KeyringRemove, testKey2); !errors.Is(err, httpapi.ErrConflict) || !errors.Is(err, keyring.ErrPrimaryKey) {
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
	os.WriteFile(filepath.Join(cfg.DataDir, keyring.FileName), []byte(`["not base64"]`), 0o600)
	b.Shutdown()
	c, err := New(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	if err := c.Start(); err == nil || !strings.Contains(err.Error(), keyring.FileName) || !strings.Contains(err.Error(), "key 0") {
		t.Fatalf("start with a corrupt keyring file: %v", err)
	}
}

func TestKeyringNeedsEncryption(t *testing.T) {
	a := startAgent(t, testConfig("plain"))
	_, err := (apiKeyring{a.sec.keys}).Change(context.Background(), httpapi.KeyringInstall, testKey1)
	if !errors.Is(err, httpapi.ErrConflict) || !errors.Is(err, keyring.ErrNotEncrypted) {
		t.Fatalf("install without encryption: %v", err)
	}
	if _, err := (apiKeyring{a.sec.keys}).List(context.Background()); !errors.Is(err, keyring.ErrNotEncrypted) {
		t.Fatalf("list without encryption: %v", err)
	}
	// A request that reaches an unencrypted agent is never acted on.
	a.del.NotifyMsg(append([]byte{byte(msgQuery)}, keyringRequest(time.Now(), "x", 'I', bytes.Repeat([]byte{1}, 16))...))
	if a.queries.Stats(keyring.Kind).Dropped != 1 || a.GossipEncrypted() {
		t.Fatal("request acted on without encryption")
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
			err := c.CheckPlaintext(tc.key != "")
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
