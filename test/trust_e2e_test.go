package test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent"
	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/configsync"
)

// Issue 9's end-to-end checks: messages forged by a host that never
// joined change nothing lasting, and a damaged configsync.db never crashes
// agentd.

// forgedPacket is a memberlist UDP packet carrying one configsync
// message, as any host can send to an agent without gossip encryption:
// memberlist's userMsg type byte (8), Murmur's routing byte, the message.
func forgedPacket(m configsync.Message) []byte {
	return append([]byte{8, byte(agent.MsgConfigSync)}, configsync.Encode(m)...)
}

// forge sends m to the gossip port of each agent, a few times (UDP).
func forge(t *testing.T, m configsync.Message, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		u, err := net.Dial("udp", p.gossip)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := u.Write(forgedPacket(m)); err != nil {
				t.Fatal(err)
			}
		}
		u.Close()
	}
}

func (p *proc) kvPair(key string) (client.KVPair, error) {
	var kv client.KVPair
	err := p.getJSON("/v1/kv/"+key, &kv)
	return kv, err
}

func (p *proc) kvStat(name string) int64 {
	var self client.Self
	if err := p.getJSON("/v1/agent/self", &self); err != nil {
		return -1
	}
	return self.Stats[name]
}

// TestForgedMessagesChangeNothingLasting: a far-future Update, a forged
// Reject and a year-ahead version, sent by a host that never joined, are
// refused; a later put of each key succeeds and is read back everywhere
// stamped with the current time.
func TestForgedMessagesChangeNothingLasting(t *testing.T) {
	ps := cluster(t, 3, agentOpts{})
	if code, body := ps[0].kvPut("forge/kept", []byte("original")); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	for _, p := range ps {
		eventually(t, 10*time.Second, "forge/kept on "+p.name, func() bool {
			v, code := p.kvGetRaw("forge/kept")
			return code == 200 && string(v) == "original"
		})
	}
	kept, err := ps[0].kvPair("forge/kept")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	year := now.AddDate(1, 0, 0).UnixMilli()
	farFuture := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli()
	msgs := []configsync.Message{
		&configsync.Update{From: "mallory", Entries: []configsync.Entry{
			{Key: "forge/far", Value: []byte("pinned"), Version: configsync.Version{Wall: farFuture, Logical: 1<<32 - 1, Node: "mallory"}}}},
		&configsync.Update{From: "mallory", Entries: []configsync.Entry{
			{Key: "forge/year", Value: []byte("drag"), Version: configsync.Version{Wall: year, Node: "mallory"}},
			{Key: "forge/kept", Value: []byte("overwritten"), Version: configsync.Version{Wall: year, Node: "mallory"}}}},
		&configsync.Reject{From: "mallory", Floor: configsync.Version{Wall: year, Node: "mallory"},
			Items: []configsync.KeyVersion{{Key: "forge/kept", Version: configsync.Version{Wall: year, Node: "mallory"}}}},
		&configsync.Reject{From: "mallory", Floor: configsync.Version{Wall: now.Add(-48 * time.Hour).UnixMilli(), Node: "mallory"},
			Items: []configsync.KeyVersion{{Key: "forge/kept", Version: configsync.Version{Wall: kept.Updated.UnixMilli(), Node: kept.Origin}}}},
	}
	for _, m := range msgs {
		forge(t, m, ps...)
	}
	// Each agent counted the refusals.
	for _, p := range ps {
		eventually(t, 10*time.Second, "refusals counted on "+p.name, func() bool {
			return p.kvStat("kv_skew_rejected") > 0 && p.kvStat("kv_rejects_ignored") > 0
		})
	}
	for _, p := range ps {
		if v, code := p.kvGetRaw("forge/kept"); code != 200 || string(v) != "original" {
			t.Fatalf("%s: forge/kept = %d %q after forged messages", p.name, code, v)
		}
		for _, k := range []string{"forge/far", "forge/year"} {
			if _, code := p.kvGetRaw(k); code != 404 {
				t.Fatalf("%s: forged key %s is there (%d)", p.name, k, code)
			}
		}
	}
	// Later puts of every key succeed and win everywhere, stamped now.
	for i, k := range []string{"forge/far", "forge/year", "forge/kept"} {
		p := ps[i%3]
		start := time.Now()
		if code, body := p.kvPut(k, []byte("later")); code != 200 {
			t.Fatalf("put %s on %s: %d %s", k, p.name, code, body)
		}
		kv, err := p.kvPair(k)
		if err != nil {
			t.Fatal(err)
		}
		if d := kv.Updated.Sub(start); d < -time.Second || d > 5*time.Second {
			t.Fatalf("%s stamped %v, want about %v", k, kv.Updated, start)
		}
	}
	for _, p := range ps {
		for _, k := range []string{"forge/far", "forge/year", "forge/kept"} {
			eventually(t, 10*time.Second, k+" on "+p.name, func() bool {
				v, code := p.kvGetRaw(k)
				return code == 200 && string(v) == "later"
			})
		}
	}
	for _, p := range ps {
		if !p.running() {
			t.Fatalf("%s died:\n%s", p.name, p.log())
		}
	}
}

// TestCorruptStoreNeverCrashes flips random bytes of a configsync.db (past
// bbolt's two meta pages) many times: agentd either starts and serves
// every key as written (the bytes were unused), or exits non-zero with one
// error line naming the file — never a panic or a Go trace.
func TestCorruptStoreNeverCrashes(t *testing.T) {
	p := startAgentd(t, "corrupt", agentOpts{})
	want := map[string]string{}
	for i := range 60 {
		k, v := fmt.Sprintf("app/%02d", i), strings.Repeat(fmt.Sprint(i), 1+i*3)
		if code, body := p.kvPut(k, []byte(v)); code != 200 {
			t.Fatalf("put: %d %s", code, body)
		}
		want[k] = v
	}
	p.stop()
	orig, err := os.ReadFile(filepath.Join(p.dataDir, configsync.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	seeds := 16
	if testing.Short() {
		seeds = 4
	}
	base := uint64(time.Now().UnixNano())
	refused := 0
	for i := range seeds {
		seed := base + uint64(i)
		rng := rand.New(rand.NewPCG(seed, 7))
		b := bytes.Clone(orig)
		for range 1 + rng.IntN(6) {
			b[8192+rng.IntN(len(b)-8192)] ^= byte(1 + rng.IntN(255))
		}
		dir := t.TempDir()
		for _, f := range []string{configsync.MarkerFile} {
			data, _ := os.ReadFile(filepath.Join(p.dataDir, f))
			os.WriteFile(filepath.Join(dir, f), data, 0o600)
		}
		path := filepath.Join(dir, configsync.DBFile)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ok, out := tryStart(t, fmt.Sprintf("flip%d", i), dir, want)
		if !ok {
			refused++
			checkOneError(t, seed, out, path)
		}
	}
	t.Logf("%d of %d damaged stores refused, the rest unharmed", refused, seeds)

	// A store emptied in a data dir that held one is refused, naming it.
	dir := t.TempDir()
	data, _ := os.ReadFile(filepath.Join(p.dataDir, configsync.MarkerFile))
	os.WriteFile(filepath.Join(dir, configsync.MarkerFile), data, 0o600)
	path := filepath.Join(dir, configsync.DBFile)
	os.WriteFile(path, nil, 0o600)
	if ok, out := tryStart(t, "emptied", dir, nil); ok {
		t.Fatal("agentd started on an emptied store")
	} else {
		checkOneError(t, 0, out, path)
		if !strings.Contains(out, configsync.MarkerFile) {
			t.Fatalf("the error does not say how to start anyway:\n%s", out)
		}
	}
}

// tryStart runs agentd on dataDir: ok when it starts, and then every key
// of want must read back as written; otherwise its output.
func tryStart(t *testing.T, name, dataDir string, want map[string]string) (bool, string) {
	t.Helper()
	// Port 0 everywhere: the agent's addresses are read back from its log.
	q := &proc{t: t, name: name, dataDir: dataDir, dynamic: true}
	q.logPath = filepath.Join(t.TempDir(), name+".log")
	cf := filepath.Join(t.TempDir(), name+".toml")
	os.WriteFile(cf, []byte(fastGossip), 0o600)
	port0 := "127.0.0.1:0"
	q.args = []string{"-node", "corrupt", "-bind", port0, "-http-addr", port0, "-dns-addr", port0, "-consul-addr=", "-data-dir", dataDir, "-config", cf}
	q.start()
	defer q.stop()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if !q.running() {
			if q.exitErr() == nil {
				t.Fatalf("%s: agentd exited 0 on start:\n%s", name, q.log())
			}
			return false, q.log()
		}
		var self client.Self
		if q.learnAddrs() && q.getJSON("/v1/agent/self", &self) == nil {
			for k, v := range want {
				if got, code := q.kvGetRaw(k); code != 200 || string(got) != v {
					t.Fatalf("%s: damage not detected: %s = %d %q, want %q\n%s", name, k, code, got, v, q.log())
				}
			}
			return true, q.log()
		}
		time.Sleep(20 * time.Millisecond) // polling the start
	}
	t.Fatalf("%s: neither started nor exited in %v:\n%s", name, readyTimeout, q.log())
	return false, ""
}

// checkOneError: the output ends with one "agentd: ..." line naming path,
// and holds no panic or trace.
func checkOneError(t *testing.T, seed uint64, out, path string) {
	t.Helper()
	for _, bad := range []string{"panic", "goroutine ", "SIGSEGV", "SIGBUS", "runtime error"} {
		if strings.Contains(out, bad) {
			t.Fatalf("seed %d: agentd output holds %q:\n%s", seed, bad, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "agentd: ") || !strings.Contains(last, path) {
		t.Fatalf("seed %d: last line %q does not name %s:\n%s", seed, last, path, out)
	}
	for _, l := range lines[:len(lines)-1] {
		if strings.Contains(l, path) {
			t.Fatalf("seed %d: the file is named on more than one line:\n%s", seed, out)
		}
	}
}
