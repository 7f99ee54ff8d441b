package test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/testutil"
)

// promInstall is how .ci/run installs Prometheus (static scraping needs
// no service discovery; the Consul face's test needs Consul SD, so this
// one build serves both).
const promInstall = "go install -tags remove_all_sd,enable_consul_sd github.com/prometheus/prometheus/cmd/prometheus@v0.316.0"

// runPrometheus starts Prometheus with config on a loopback port (it
// cannot take a port-0 listener: a random port is tried, and another after
// "address already in use") and returns its address; it is stopped at the
// end of the test.
func runPrometheus(t *testing.T, bin, config string) string {
	t.Helper()
	for range 5 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(30000))
		var out testutil.Buffer
		cmd := exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+t.TempDir(), "--web.listen-address="+addr)
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start prometheus: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			if t.Failed() {
				t.Logf("prometheus output:\n%s", out.String())
			}
		})
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
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
			time.Sleep(100 * time.Millisecond) // polling period of a deadline-bounded wait
		}
		t.Fatalf("prometheus not ready after 60s:\n%s", out.String())
	next:
	}
	t.Fatal("no free port for prometheus after 5 tries")
	return ""
}

// promQuery runs an instant query and returns each series' labels and
// value.
func promQuery(addr, q string) (map[string]string, error) {
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, s := range r.Data.Result {
		out[s.Metric["instance"]] = fmt.Sprint(s.Value[1])
	}
	return out, nil
}

// TestPrometheusScrapesAgents runs real Prometheus against two agents and
// sees a KV write move murmur_kv_keys on both.
func TestPrometheusScrapesAgents(t *testing.T) {
	bin := testutil.NeedTool(t, "prometheus", promInstall)
	ps := cluster(t, 2, agentOpts{})
	config := filepath.Join(t.TempDir(), "prometheus.yml")
	body := fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: murmur
    static_configs:
      - targets: [%q, %q]
`, ps[0].httpAddr, ps[1].httpAddr)
	if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := runPrometheus(t, bin, config)
	eventually(t, 60*time.Second, "both agents up in prometheus", func() bool {
		up, err := promQuery(addr, `up{job="murmur"} == 1`)
		return err == nil && len(up) == 2
	})
	eventually(t, 60*time.Second, "murmur_kv_keys 0 on both", func() bool {
		v, err := promQuery(addr, `murmur_kv_keys`)
		return err == nil && len(v) == 2 && v[ps[0].httpAddr] == "0" && v[ps[1].httpAddr] == "0"
	})
	ps[0].put(t, "app/scraped", "yes")
	eventually(t, 60*time.Second, "murmur_kv_keys 1 on both", func() bool {
		v, err := promQuery(addr, `murmur_kv_keys`)
		return err == nil && v[ps[0].httpAddr] == "1" && v[ps[1].httpAddr] == "1"
	})
	eventually(t, 60*time.Second, "the write's propagation to node2 in the histogram", func() bool {
		v, err := promQuery(addr, `sum(murmur_kv_propagation_seconds_count{instance=`+fmt.Sprintf("%q", ps[1].httpAddr)+`})`)
		return err == nil && len(v) == 1 && v[""] != "0"
	})
}
