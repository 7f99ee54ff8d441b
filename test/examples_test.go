package test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleCluster runs examples/cluster/run.sh --once: three agents on
// the fixed ports of its TOML files, and agentctl members showing them.
func TestExampleCluster(t *testing.T) {
	for _, a := range []string{"127.0.0.1:7946", "127.0.0.1:7947", "127.0.0.1:7956", "127.0.0.1:7966", "127.0.0.1:8600"} {
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Skipf("example port %s busy: %v", a, err)
		}
		l.Close()
	}
	dir, _ := filepath.Abs("../examples/cluster")
	t.Cleanup(func() { os.RemoveAll(filepath.Join(dir, "data")); os.RemoveAll(filepath.Join(dir, "logs")) })
	cmd := exec.Command("bash", filepath.Join(dir, "run.sh"), "--once")
	cmd.WaitDelay = 5 * time.Second
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("run.sh did not finish:\n%s", out)
	}
	if err != nil {
		t.Fatalf("run.sh: %v\n%s", err, out)
	}
	alive := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "node") && strings.Contains(l, "alive") {
			alive++
		}
	}
	if alive != 3 {
		t.Fatalf("want 3 alive members in the output:\n%s", out)
	}
}
