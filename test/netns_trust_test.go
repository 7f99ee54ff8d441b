//go:build linux

package test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/configsync"
)

// TestNetnsForgedMessages (h): a host on the lab network that never
// joined (namespace n4, no agent) but holds the lab's gossip key (a leaked
// key, or a compromised host: what gossip encryption cannot stop) sends
// forged configsync messages to every agent: far-future and year-ahead versions, a forged Announce,
// Rejects with an implausible floor or one that does not cover their
// items, a summary with a future floor, and an equal-version conflict.
// Nothing lasting changes: every acknowledged write stays, the conflict
// converges to one value everywhere, and later puts of every targeted key
// win everywhere, stamped now.
func TestNetnsForgedMessages(t *testing.T) {
	s := newScenario(t, "h", 4, 150*time.Second)
	start := time.Now()
	var ps []*proc
	for i := 1; i <= 3; i++ {
		ps = append(ps, s.lab.agent(i, agentOpts{}))
	}
	for _, p := range ps {
		p.waitReady()
	}
	s.waitAlive(ps, start, 30*time.Second)
	lg := newLedger("ph/")
	for i := range 12 {
		lg.mustPut(t, ps[i%3], fmt.Sprintf("ph/k%02d", i))
	}
	s.waitConverged(ps, lg, start, 30*time.Second)
	conflict, err := ps[0].kvPutPair("phx/conflict", []byte("real"))
	if err != nil {
		t.Fatal(err)
	}
	cv, _ := parseVer(conflict.Version, conflict.Origin)
	s.waitUntil("phx/conflict everywhere", time.Now(), 30*time.Second, func() (bool, string) {
		for _, p := range ps {
			if v, code := p.kvGetRaw("phx/conflict"); code != 200 || string(v) != "real" {
				return false, p.name + " lacks it"
			}
		}
		return true, ""
	})

	now := time.Now()
	year := now.AddDate(1, 0, 0).UnixMilli()
	far := time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	mallory := func(wall int64) configsync.Version {
		return configsync.Version{Wall: wall, Logical: 1<<32 - 1, Node: "mallory"}
	}
	target := "ph/k03"
	msgs := []configsync.Message{
		&configsync.Update{From: "mallory", Entries: []configsync.Entry{
			{Key: "phx/far", Value: []byte("pin"), Version: mallory(far)},
			{Key: target, Value: []byte("pin"), Version: mallory(far)}}},
		&configsync.Update{From: "mallory", Entries: []configsync.Entry{{Key: "phx/year", Value: []byte("drag"), Version: mallory(year)}}},
		&configsync.Announce{From: "mallory", Key: "phx/big", Version: mallory(year), Size: 1 << 20},
		&configsync.Reject{From: "mallory", Floor: mallory(year), Items: []configsync.KeyVersion{{Key: target, Version: mallory(year)}}},
		&configsync.Reject{From: "mallory", Floor: configsync.Version{Wall: now.Add(-72 * time.Hour).UnixMilli(), Node: "mallory"},
			Items: []configsync.KeyVersion{{Key: target, Version: mallory(now.UnixMilli())}}},
		&configsync.Summary{Node: "mallory", Root: 1, Count: 5, Floor: mallory(year)},
		&configsync.Update{From: "mallory", Entries: []configsync.Entry{
			{Key: "phx/conflict", Value: []byte("zz-forged"), Version: configsync.Version{Wall: int64(cv.wall), Logical: uint32(cv.logical), Node: cv.origin}}}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range ps {
		c, err := nsDial(ctx, s.lab.ns(4), "udp", p.gossip)
		if err != nil {
			t.Fatalf("forger: %v", err)
		}
		for range 3 {
			for _, m := range msgs {
				c.Write(sealPacket(t, labGossipKey, forgedPacket(m)))
			}
		}
		c.Close()
	}
	forged := time.Now()
	s.waitUntil("refusals counted", forged, 30*time.Second, func() (bool, string) {
		for _, p := range ps {
			if p.kvStat("kv_skew_rejected") == 0 || p.kvStat("kv_rejects_ignored") == 0 {
				return false, p.name + " has not counted them"
			}
		}
		return true, ""
	})
	// One value for the equal-version conflict everywhere (content-aware
	// anti-entropy).
	conv := s.waitUntil("the conflict converges", forged, 60*time.Second, func() (bool, string) {
		var first string
		for i, p := range ps {
			v, code := p.kvGetRaw("phx/conflict")
			if code != 200 {
				return false, fmt.Sprintf("%s: %d", p.name, code)
			}
			if i == 0 {
				first = string(v)
			} else if string(v) != first {
				return false, fmt.Sprintf("%s holds %q, %s %q", ps[0].name, first, p.name, v)
			}
		}
		return true, ""
	})
	s.metric("conflict_converge_s", conv)
	s.waitConverged(ps, lg, forged, 30*time.Second)
	for _, p := range ps {
		for _, k := range []string{"phx/far", "phx/year", "phx/big"} {
			if _, code := p.kvGetRaw(k); code != 404 {
				t.Errorf("%s: forged key %s present (%d)", p.name, k, code)
			}
		}
	}
	// Later writes of every targeted key win everywhere, stamped now
	// (phx/ has no acknowledged writes before these).
	later := time.Now()
	lgx := newLedger("phx/")
	for i, k := range []string{"phx/far", "phx/year", "phx/big", target, "phx/conflict"} {
		l := lgx
		if k == target {
			l = lg
		}
		w := l.mustPut(t, ps[i%3], k)
		if lead := time.Duration(int64(w.ver.wall)-w.finished.UnixMilli()) * time.Millisecond; lead > 5*time.Second || lead < -5*time.Second {
			t.Errorf("%s stamped %v away from the time of the write", k, lead)
		}
	}
	s.metric("later_converge_s", max(s.waitConverged(ps, lg, later, 30*time.Second), s.waitConverged(ps, lgx, later, 30*time.Second)))
	for _, p := range ps {
		if !p.running() {
			t.Fatalf("%s died:\n%s", p.name, p.log())
		}
	}
}

// sealPacket encrypts a gossip packet as memberlist does with a key and
// no label (encryption version 1: version byte, 12-byte nonce, AES-GCM).
func sealPacket(t *testing.T, key64 string, plain []byte) []byte {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(key64)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 1+12, 1+12+len(plain)+gcm.Overhead())
	out[0] = 1
	if _, err := rand.Read(out[1:13]); err != nil {
		t.Fatal(err)
	}
	return gcm.Seal(out, out[1:13], plain, nil)
}

// membersJSON returns p's member list as agentctl members -json prints it.
func (p *proc) membersJSON() ([]client.Member, error) {
	out, errOut, code := runCtlIn(p, "members", "-json")
	if code != 0 {
		return nil, fmt.Errorf("agentctl members: %d %s", code, errOut)
	}
	var ms []client.Member
	err := json.Unmarshal([]byte(out), &ms)
	return ms, err
}

// runCtlIn runs agentctl against p, inside p's namespace when it has one.
func runCtlIn(p *proc, args ...string) (string, string, int) {
	args = append([]string{"-http-addr", p.httpAddr}, args...)
	if p.netns == "" {
		return runCtl(p.t, "", args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", p.netns, filepath.Join(binaries(p.t), "agentctl")}, args...)...)
	return runCmd(p.t, cmd)
}
