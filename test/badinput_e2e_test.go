package test

import (
	"bytes"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestGarbageOnPortsLosesNothing throws random bytes at the gossip port
// (UDP and TCP) and the DNS port (UDP and TCP) of a live agent: it keeps
// running, keeps its members and data, and still answers DNS.
func TestGarbageOnPortsLosesNothing(t *testing.T) {
	ps := cluster(t, 2, agentOpts{})
	p := ps[0]
	if code, body := p.kvPut("keep/me", []byte("safe")); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	garbage := func() []byte {
		b := make([]byte, 1+rnd.IntN(1400))
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		if rnd.IntN(4) == 0 && len(b) > 1 {
			b[0] = byte(rnd.IntN(20)) // a plausible memberlist message type
		}
		return b
	}
	for _, target := range []string{p.gossip, p.dnsAddr} {
		u, err := net.Dial("udp", target)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 500; i++ {
			u.Write(garbage())
		}
		u.Close()
		for i := 0; i < 30; i++ {
			c, err := net.DialTimeout("tcp", target, 30*time.Second) // only a hang comes near it
			if err != nil {
				t.Fatalf("tcp %s refused after garbage: %v", target, err)
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			c.Write(garbage())
			c.Close()
		}
	}
	if !p.running() {
		t.Fatalf("agent died on garbage:\n%s", p.log())
	}
	if v, code := p.kvGetRaw("keep/me"); code != 200 || string(v) != "safe" {
		t.Fatalf("data after garbage: %d %q", code, v)
	}
	allSee(t, ps, ps[1].name, "alive", patience)
	// The second agent still receives replication from the first.
	p.kvPut("after/garbage", []byte("ok"))
	eventually(t, patience, "replication after garbage", func() bool {
		v, code := ps[1].kvGetRaw("after/garbage")
		return code == 200 && string(v) == "ok"
	})
	if _, err := lookPath("dig"); err == nil {
		if r := p.dig("node1.node.murmur", "A"); r.status != "NOERROR" {
			t.Fatalf("DNS after garbage: %s", r.raw)
		}
	}
}

// TestWrongTokenChangesNothing: with http.token set, writes without the
// token or with a wrong one get 401 and change nothing; reads stay open.
func TestWrongTokenChangesNothing(t *testing.T) {
	p := startAgentd(t, "tok", agentOpts{config: fastGossip + "\n[http]\ntoken = \"s3cret\"\n"})
	put := func(token string) int {
		req, _ := http.NewRequest(http.MethodPut, "http://"+p.httpAddr+"/v1/kv/k", strings.NewReader("v-"+token))
		if token != "" {
			req.Header.Set("X-Murmur-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put("s3cret"); code != 200 {
		t.Fatalf("right token: %d", code)
	}
	for _, tok := range []string{"", "wrong"} {
		if code := put(tok); code != 401 {
			t.Errorf("token %q: %d, want 401", tok, code)
		}
	}
	if v, _ := p.kvGetRaw("k"); !bytes.Equal(v, []byte("v-s3cret")) {
		t.Fatalf("value changed to %q", v)
	}
	_, errOut, code := p.agentctl("kv", "put", "k", "x")
	if code == 0 || !strings.Contains(errOut, "token") {
		t.Fatalf("agentctl without token: exit %d %q", code, errOut)
	}
	if _, errOut, code := p.agentctl("-token", "s3cret", "kv", "put", "k", "y"); code != 0 {
		t.Fatalf("agentctl with token: %s", errOut)
	}
}
