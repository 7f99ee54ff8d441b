package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/testutil"
)

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
	bin := testutil.NeedTool(t, "prometheus", prometheusInstall)
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
	addr := startPrometheus(t, bin, config) // consul_e2e_test.go
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
