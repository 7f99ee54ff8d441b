package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

// runLog is a handler script's output file: one JSON state per line.
type runLog string

func (r runLog) lines() []string {
	b, _ := os.ReadFile(string(r))
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (p *proc) put(t *testing.T, key, value string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+p.httpAddr+"/v1/kv/"+key, strings.NewReader(value))
	resp, err := p.httpc().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %s", key, resp.Status)
	}
}

// TestWatchHandlers runs [[watch]] handlers in a real agentd: a key change
// runs the handler once with the right JSON within a second, a burst of
// 100 puts runs it a few times, a slow handler holds nothing up, SIGHUP
// adds a watch without re-running the others.
func TestWatchHandlers(t *testing.T) {
	dir := t.TempDir()
	keyLog, slowLog, memLog := runLog(filepath.Join(dir, "key")), runLog(filepath.Join(dir, "slow")), runLog(filepath.Join(dir, "members"))
	watches := fmt.Sprintf(`
[[watch]]
type = "key"
key = "app/mode"
handler = ["/bin/sh", "-c", "cat >> \"$0\"", %q]

[[watch]]
name = "slow"
type = "keyprefix"
prefix = "app/"
handler = ["/bin/sh", "-c", "cat >> \"$0\"; sleep 5", %q]
timeout = "2s"
`, keyLog, slowLog)
	cfgPath := filepath.Join(dir, "node1.toml")
	writeFile(t, cfgPath, fastGossip+watches)
	ps := cluster(t, 2, agentOpts{})
	a := startAgentd(t, "watcher", agentOpts{join: []string{ps[0].gossip}, extra: []string{"-config", cfgPath}})
	allSee(t, append(ps, a), "watcher", "alive", 20*time.Second)
	eventually(t, 10*time.Second, "the key watch's first run", func() bool { return len(keyLog.lines()) == 1 })
	if got := keyLog.lines()[0]; got != "null" {
		t.Fatalf("first run of a watch on an absent key got %s, want null", got)
	}

	// A key change runs the handler once, with the pair, within 1 s. The
	// best of three attempts is what is asserted: the machine is shared.
	best := time.Hour
	for i := range 3 {
		value := fmt.Sprintf("blue-%d", i)
		start := time.Now()
		a.put(t, "app/mode", value)
		eventually(t, 10*time.Second, "the handler to see "+value, func() bool {
			l := keyLog.lines()
			return len(l) == 2+i && strings.Contains(l[len(l)-1], `"key":"app/mode"`)
		})
		best = min(best, time.Since(start))
		var pair client.KVPair
		if err := json.Unmarshal([]byte(keyLog.lines()[1+i]), &pair); err != nil || string(pair.Value) != value {
			t.Fatalf("handler got %s (%v), want the pair with value %s", keyLog.lines()[1+i], err, value)
		}
	}
	t.Logf("put to handler output: best of 3 = %v", best)
	if best > time.Second {
		t.Errorf("the handler ran %v after the put, want within 1s", best)
	}

	// A change made on another agent arrives by gossip and runs it too.
	ps[1].put(t, "app/mode", "from-node2")
	eventually(t, 10*time.Second, "the remote change", func() bool {
		l := keyLog.lines()
		return strings.Contains(l[len(l)-1], b64("from-node2"))
	})
	before := len(keyLog.lines())

	// A burst of 100 puts runs the handler a few times, with the final
	// value last; meanwhile the slow watch's handler (5 s, killed at 2 s)
	// must not hold up writes or reads.
	slowest := time.Duration(0)
	for i := range 100 {
		start := time.Now()
		a.put(t, "app/mode", fmt.Sprintf("burst-%03d", i))
		slowest = max(slowest, time.Since(start))
	}
	eventually(t, 20*time.Second, "the final burst value", func() bool {
		l := keyLog.lines()
		return strings.Contains(l[len(l)-1], b64("burst-099"))
	})
	runs := len(keyLog.lines()) - before
	t.Logf("100 puts ran the key handler %d times; slowest put %v", runs, slowest)
	if runs > 10 {
		t.Errorf("100 puts ran the handler %d times, want a few", runs)
	}
	if slowest > 5*time.Second {
		t.Errorf("a put took %v while a slow handler ran", slowest)
	}

	// The slow handler timed out and that is counted.
	eventually(t, 20*time.Second, "a counted timeout", func() bool {
		return strings.Contains(a.metrics(t), `murmur_watch_handler_timeouts_total{type="keyprefix",watch="slow"} `) &&
			!strings.Contains(a.metrics(t), `murmur_watch_handler_timeouts_total{type="keyprefix",watch="slow"} 0`)
	})

	// SIGHUP adds a members watch; the others keep running without a rerun.
	keyRuns := len(keyLog.lines())
	writeFile(t, cfgPath, fastGossip+watches+fmt.Sprintf(`
[[watch]]
type = "members"
handler = ["/bin/sh", "-c", "cat >> \"$0\"", %q]
`, memLog))
	a.signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the new members watch", func() bool { return len(memLog.lines()) == 1 })
	var ms []client.Member
	if err := json.Unmarshal([]byte(memLog.lines()[0]), &ms); err != nil || len(ms) != 3 {
		t.Fatalf("members handler got %s (%v)", memLog.lines()[0], err)
	}
	ps[1].kill9()
	eventually(t, 20*time.Second, "the members handler to see node2 failed", func() bool {
		l := memLog.lines()
		var ms []client.Member
		_ = json.Unmarshal([]byte(l[len(l)-1]), &ms)
		for _, m := range ms {
			if m.Name == "node2" {
				return m.Status == "failed"
			}
		}
		return false
	})
	if n := len(keyLog.lines()); n != keyRuns {
		t.Errorf("SIGHUP re-ran the unchanged key watch (%d runs, was %d)", n, keyRuns)
	}
}

func b64(s string) string {
	b, _ := json.Marshal([]byte(s))
	return strings.Trim(string(b), `"`)
}

func (p *proc) metrics(t *testing.T) string {
	t.Helper()
	resp, err := p.httpc().Get("http://" + p.httpAddr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}
