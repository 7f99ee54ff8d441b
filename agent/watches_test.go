package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/catalog"
	"github.com/murmurhq/murmur/watch"
)

func TestServiceWatch(t *testing.T) {
	c := newMemCluster(t, 2, 41)
	out := filepath.Join(t.TempDir(), "runs")
	cfg := testConfig("w1")
	cfg.Watches = []watch.Definition{{Type: watch.TypeService, Service: "web", Handler: []string{"/bin/sh", "-c", `cat >> "$0"`, out}}}
	tr, err := c.net.NewTransport("w1")
	if err != nil {
		t.Fatal(err)
	}
	w := startAgent(t, cfg, WithTransport(tr))
	c.agents = append(c.agents, w)
	joinAll(t, c.agents)
	runs := func() []string {
		b, _ := os.ReadFile(out)
		s := strings.TrimSpace(string(b))
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	waitFor(t, 10*time.Second, "the first run", func() bool { return len(runs()) >= 1 })
	if runs()[0] != "[]" {
		t.Fatalf("first run got %s, want [] (no instance yet)", runs()[0])
	}
	if err := c.agents[1].Catalog().Register(catalog.Definition{Name: "web", ID: "web-1", Port: 8080}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a run with the instance", func() bool {
		l := runs()
		var insts []client.ServiceInstance
		return json.Unmarshal([]byte(l[len(l)-1]), &insts) == nil && len(insts) == 1 && insts[0].Node == "n2" && insts[0].Health == client.HealthPassing
	})
	waitFor(t, 10*time.Second, "the runs counted", func() bool {
		st := w.WatchStats()
		return len(st) == 1 && st[0].Runs == uint64(len(runs()))
	})
	if st := w.WatchStats(); st[0].Failures != 0 || st[0].Name != "service:web" {
		t.Fatalf("watch stats %+v", st)
	}
}

func TestWatchConfigErrorsNameTheTable(t *testing.T) {
	src := `node_name = "n1"
data_dir = "/tmp/x"

[[watch]]
type = "members"
handler = ["/bin/true"]

[[watch]]
type = "key"
handler = ["/bin/true"]
`
	cfg, err := ParseConfig([]byte(src), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	err = ValidateWithSource(&cfg, "agent.toml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `line 8: watch[1].key: required for type "key"`) {
		t.Fatalf("error %v, want it to name line 8 and watch[1].key", err)
	}
	if _, err := ParseConfig([]byte("[[watch]]\ntype = \"key\"\nkeys = \"x\"\n"), DefaultConfig()); err == nil || !strings.Contains(err.Error(), `watch.keys`) {
		t.Fatalf("unknown key: %v", err)
	}
}
