package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/murmurhq/murmur/agent"
	"github.com/murmurhq/murmur/internal/testutil"
)

// End-to-end tests of the Consul-compatible API with real Consul tools:
// the consul-template binary and Prometheus's consul_sd_configs. The
// agents run in process (their Consul API on port 0); the tools are the
// real programs, which .ci/run installs.

const (
	consulTemplateInstall = "go install github.com/hashicorp/consul-template@v0.41.1"
	// Debian's prometheus package is built with Consul SD disabled; this
	// builds Prometheus with only that discovery mechanism.
	prometheusInstall = "go install -tags remove_all_sd,enable_consul_sd github.com/prometheus/prometheus/cmd/prometheus@v0.316.0"
)

// consulAgents starts n joined in-process agents with the Consul API on
// a port of their own.
func consulAgents(t *testing.T, n int) ([]*agent.Agent, []*consul.Client) {
	t.Helper()
	var as []*agent.Agent
	var cs []*consul.Client
	var logs syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent logs:\n%s", logs.String())
		}
	})
	for i := range n {
		cfg := agent.DevConfig()
		cfg.NodeName = fmt.Sprintf("node%d", i+1)
		cfg.BindAddr = "127.0.0.1:0"
		cfg.HTTP.Addr = ""
		cfg.DNS.Addr = ""
		cfg.ConsulAPI.Addr = "127.0.0.1:0"
		a, err := agent.New(cfg, agent.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Shutdown() })
		if i > 0 {
			m, _ := as[0].LocalMember()
			if _, err := a.Join(context.Background(), []string{m.AddrPort().String()}); err != nil {
				t.Fatal(err)
			}
		}
		ccfg := consul.DefaultNonPooledConfig()
		ccfg.Address = a.ConsulAddr()
		c, err := consul.NewClient(ccfg)
		if err != nil {
			t.Fatal(err)
		}
		as, cs = append(as, a), append(cs, c)
	}
	eventually(t, 15*time.Second, "every agent to see every other", func() bool {
		for _, c := range cs {
			ms, err := c.Agent().Members(false)
			if err != nil || len(ms) != n {
				return false
			}
		}
		return true
	})
	return as, cs
}

// startTool runs a real program until the test ends, with its output in
// the test log on failure. It is stopped with SIGINT, the signal both
// consul-template and Prometheus take for a graceful exit (SIGKILL after 10s),
// and waited for; the channel is closed when it exits.
func startTool(t *testing.T, out *syncBuffer, name string, args ...string) <-chan struct{} {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), out.String())
		}
	})
	return exited
}

func registerTTL(t *testing.T, c *consul.Client, id string, port int) {
	t.Helper()
	err := c.Agent().ServiceRegister(&consul.AgentServiceRegistration{
		ID: id, Name: "web", Port: port, Address: "127.0.0.1", Tags: []string{"http"},
		Check: &consul.AgentServiceCheck{TTL: "10m", Status: consul.HealthPassing},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConsulTemplateE2E(t *testing.T) {
	bin := testutil.NeedTool(t, "consul-template", consulTemplateInstall)
	as, cs := consulAgents(t, 2)
	// The template watches agent 1; every write is made on agent 2.
	writer := cs[1]
	if _, err := writer.KV().Put(&consul.KVPair{Key: "app/greeting", Value: []byte("hello")}, nil); err != nil {
		t.Fatal(err)
	}
	registerTTL(t, writer, "web-a", 9001)
	registerTTL(t, writer, "web-b", 9002)

	dir := t.TempDir()
	tpl, out, runs := filepath.Join(dir, "in.tpl"), filepath.Join(dir, "out.txt"), filepath.Join(dir, "runs.log")
	writeFile(t, tpl, `greeting={{ key "app/greeting" }}
{{ range service "web" }}{{ .ID }} {{ .Address }}:{{ .Port }}
{{ end }}`)
	conf := filepath.Join(dir, "ct.hcl")
	writeFile(t, conf, fmt.Sprintf(`
consul {
  address = %q
}
log_level = "debug"
template {
  source      = %q
  destination = %q
  command     = ["sh", "-c", "echo run >> %s"]
}
`, as[0].ConsulAddr(), tpl, out, runs))
	var logs syncBuffer
	startTool(t, &logs, bin, "-config", conf)

	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	nruns := func() int { return strings.Count(read(runs), "run\n") }
	want := "greeting=hello\nweb-a 127.0.0.1:9001\nweb-b 127.0.0.1:9002\n"
	start := time.Now()
	eventually(t, 30*time.Second, "the first render", func() bool { return read(out) == want && nruns() >= 1 })
	t.Logf("first render after %v", time.Since(start).Round(time.Millisecond))

	// A put re-renders and runs the command again.
	before := nruns()
	start = time.Now()
	if _, err := writer.KV().Put(&consul.KVPair{Key: "app/greeting", Value: []byte("bonjour")}, nil); err != nil {
		t.Fatal(err)
	}
	want = "greeting=bonjour\nweb-a 127.0.0.1:9001\nweb-b 127.0.0.1:9002\n"
	eventually(t, 20*time.Second, "a render after the put", func() bool { return read(out) == want && nruns() > before })
	t.Logf("re-rendered %v after a put on the other agent", time.Since(start).Round(time.Millisecond))

	// An instance turning critical leaves the render.
	before = nruns()
	start = time.Now()
	if err := writer.Agent().FailTTL("service:web-b", "down"); err != nil {
		t.Fatal(err)
	}
	want = "greeting=bonjour\nweb-a 127.0.0.1:9001\n"
	eventually(t, 20*time.Second, "a render without the critical instance", func() bool { return read(out) == want && nruns() > before })
	t.Logf("re-rendered %v after an instance turned critical on the other agent", time.Since(start).Round(time.Millisecond))
}

// prometheusTargets is the part of /api/v1/targets the test reads.
type prometheusTargets struct {
	Data struct {
		ActiveTargets []struct {
			DiscoveredLabels map[string]string `json:"discoveredLabels"`
			Labels           map[string]string `json:"labels"`
		} `json:"activeTargets"`
	} `json:"data"`
}

// startPrometheus runs Prometheus on a loopback port with its own config
// and data dir in the test's temp dir. Prometheus cannot take a port-0
// listener, so a random port is tried and another one after an "address
// already in use".
func startPrometheus(t *testing.T, bin, config string) string {
	t.Helper()
	for try := 0; try < 5; try++ {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(30000))
		var out syncBuffer
		exited := startTool(t, &out, bin,
			"--config.file="+config,
			"--storage.tsdb.path="+t.TempDir(),
			"--web.listen-address="+addr,
			"--log.level=debug")
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				if strings.Contains(out.String(), "consul_sd_configs not found") {
					t.Fatalf("%s was built without Consul service discovery (Debian's package disables it); install one with: %s", bin, prometheusInstall)
				}
				if strings.Contains(out.String(), "address already in use") {
					goto next
				}
				t.Fatalf("prometheus exited:\n%s", out.String())
			default:
			}
			if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return addr
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("prometheus not ready after 60s:\n%s", out.String())
	next:
	}
	t.Fatal("no free port for prometheus after 5 tries")
	return ""
}

func TestPrometheusConsulSDE2E(t *testing.T) {
	bin := testutil.NeedTool(t, "prometheus", prometheusInstall)
	as, cs := consulAgents(t, 2)
	registerTTL(t, cs[1], "web-a", 9101)
	registerTTL(t, cs[1], "web-b", 9102)
	if err := cs[0].Agent().ServiceRegister(&consul.AgentServiceRegistration{
		ID: "db-1", Name: "db", Port: 9103, Tags: []string{"primary"}, Meta: map[string]string{"role": "leader"},
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	writeFile(t, config, fmt.Sprintf(`
global:
  scrape_interval: 1m
scrape_configs:
  - job_name: murmur
    consul_sd_configs:
      - server: %q
        refresh_interval: 1s
`, as[0].ConsulAddr()))
	addr := startPrometheus(t, bin, config)

	targets := func() map[string]map[string]string {
		resp, err := http.Get("http://" + addr + "/api/v1/targets?state=active")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var pt prometheusTargets
		if err := json.Unmarshal(body, &pt); err != nil {
			return nil
		}
		out := map[string]map[string]string{}
		for _, tg := range pt.Data.ActiveTargets {
			out[tg.Labels["instance"]] = tg.DiscoveredLabels
		}
		return out
	}
	keys := func(m map[string]map[string]string) []string {
		var k []string
		for x := range m {
			k = append(k, x)
		}
		slices.Sort(k)
		return k
	}
	want := []string{"127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"}
	var got map[string]map[string]string
	eventually(t, 60*time.Second, "prometheus to discover the three instances", func() bool {
		got = targets()
		return slices.Equal(keys(got), want)
	})
	a, db := got["127.0.0.1:9101"], got["127.0.0.1:9103"]
	if a["__meta_consul_service"] != "web" || a["__meta_consul_node"] != "node2" || a["__meta_consul_service_id"] != "web-a" ||
		a["__meta_consul_dc"] != "dc1" || a["__meta_consul_health"] != "passing" || a["__meta_consul_tags"] != ",http," {
		t.Fatalf("labels of web-a: %v", a)
	}
	if db["__meta_consul_service"] != "db" || db["__meta_consul_node"] != "node1" || db["__meta_consul_service_metadata_role"] != "leader" {
		t.Fatalf("labels of db-1: %v", db)
	}

	// A deregistered instance disappears.
	if err := cs[1].Agent().ServiceDeregister("web-b"); err != nil {
		t.Fatal(err)
	}
	want = []string{"127.0.0.1:9101", "127.0.0.1:9103"}
	eventually(t, 60*time.Second, "web-b to leave prometheus's targets", func() bool {
		got = targets()
		return slices.Equal(keys(got), want)
	})
}
