package test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// docsExample returns the lines of the first fenced block under the
// markdown heading in docs/cli.md.
func docsExample(t *testing.T, heading string) []string {
	t.Helper()
	doc, err := os.ReadFile("../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/cli.md has no heading %q", heading)
	}
	_, rest, _ = strings.Cut(rest, "```\n")
	block, _, _ := strings.Cut(rest, "```")
	return strings.Split(strings.TrimRight(block, "\n"), "\n")
}

// TestCLIDocsMatchOutput replays examples of docs/cli.md against a real
// agent and compares the text agentctl prints with the text the docs show.
func TestCLIDocsMatchOutput(t *testing.T) {
	p := startAgentd(t, "docs", agentOpts{})

	t.Run("value too large", func(t *testing.T) {
		big := filepath.Join(t.TempDir(), "big")
		writeFile(t, big, strings.Repeat("x", 2<<20))
		_, errOut, code := p.agentctl("kv", "put", "app/big", "@"+big)
		if code != 1 {
			t.Fatalf("2 MiB value: exit %d", code)
		}
		doc, _ := os.ReadFile("../docs/cli.md")
		if !strings.Contains(string(doc), "`"+strings.TrimSpace(errOut)+"`") {
			t.Errorf("docs/cli.md does not show the error agentctl prints: %q", errOut)
		}
	})

	t.Run("kv watch", func(t *testing.T) {
		want := docsExample(t, "### kv watch [PREFIX]")
		if len(want) < 3 || !strings.HasPrefix(want[0], "$ agentctl kv watch ") || want[len(want)-1] != "^C" {
			t.Fatalf("unexpected shape of the docs' watch example: %q", want)
		}
		want = want[1 : len(want)-1]
		if _, errOut, code := p.agentctl("kv", "put", "app/mode", "blue"); code != 0 {
			t.Fatal(errOut)
		}
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(binaries(t), "agentctl"), "-http-addr", p.httpAddr, "kv", "watch", "app/")
		var out syncBuffer
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The writes that produce the docs' lines, each after the watch has
		// printed the previous one (a watch shows the latest state, so
		// writes in a burst may be seen as one).
		writes := [][]string{
			nil, // the initial listing
			{"kv", "put", "app/mode", "green"},
			{"kv", "put", "app/motd", "-"},
			{"kv", "delete", "app/mode"},
		}
		stdin := map[string]string{"app/motd": "line one\nline two"}
		for i, w := range writes {
			if w != nil {
				in := stdin[w[2]]
				if _, errOut, code := runCtl(t, in, append([]string{"-http-addr", p.httpAddr}, w...)...); code != 0 {
					t.Fatal(errOut)
				}
			}
			n := i + 1
			eventually(t, patience, "the watch to print "+want[i], func() bool {
				return strings.Count(out.String(), "\n") >= n
			})
		}
		cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("watch after SIGINT: %v (want exit 0) %s", err, errb.String())
		}
		got := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("agentctl kv watch printed\n%s\ndocs/cli.md shows\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
