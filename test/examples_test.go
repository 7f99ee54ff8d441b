//go:build linux

package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestExampleCluster runs examples/cluster/run.sh --once: three agents on
// the fixed ports of its TOML files, in a network namespace of its own so
// the ports are free, and agentctl members showing them.
func TestExampleCluster(t *testing.T) {
	dir, _ := filepath.Abs("../examples/cluster")
	t.Cleanup(func() { os.RemoveAll(filepath.Join(dir, "data")); os.RemoveAll(filepath.Join(dir, "logs")) })
	ctx, cancel := context.WithTimeout(context.Background(), readmeBudget)
	defer cancel()
	out, errOut, err := runPrivate(t, ctx, cleanEnv("TMPDIR="+t.TempDir()), "examples/cluster/run.sh --once")
	if err != nil {
		t.Fatalf("run.sh: %v\n%s\n%s", err, out, errOut)
	}
	alive := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "node") && strings.Contains(l, "alive") {
			alive++
		}
	}
	if alive != 3 {
		t.Fatalf("want 3 alive members in the output:\n%s\n%s", out, errOut)
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
