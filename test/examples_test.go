package test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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

// TestExampleEmbedLeavesOnSignal runs examples/embed joined to a real
// agent: it prints membership events, and on SIGINT leaves gracefully
// (the agent sees it "left") and exits 0.
func TestExampleEmbedLeavesOnSignal(t *testing.T) {
	peer := startAgentd(t, "peer", agentOpts{})
	var out syncBuffer
	cmd := exec.Command(filepath.Join(binaries(t), "embed"), "-node", "embedded", "-join", peer.gossip)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	// It prints the peer's join once its event loop, and so its signal
	// handler, runs.
	eventually(t, patience, "embed to print the peer's join:\n"+out.String(), func() bool {
		return regexp.MustCompile(`(?m) join +peer$`).MatchString(out.String())
	})
	allSee(t, []*proc{peer}, "embedded", "alive", patience)
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
		if waitErr != nil {
			t.Fatalf("embed exited with %v after SIGINT, want 0:\n%s", waitErr, out.String())
		}
	case <-time.After(patience): // a hang, not slowness
		t.Fatalf("embed did not exit after SIGINT:\n%s", out.String())
	}
	allSee(t, []*proc{peer}, "embedded", "left", patience)
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
