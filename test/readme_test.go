//go:build linux

package test

// TestREADME runs README.md as a newcomer would: every ```sh block, top to
// bottom, pasted into one bash, and checks the output the README shows.
//
// The convention, for everyone who edits README.md:
//
//   - A block fenced ```sh is run. Blocks run in file order, in ONE bash
//     process (so variables, `cd` and background jobs carry over from one
//     block to the next), from the repository root, under
//     `set -euo pipefail`: a failing command fails the test.
//   - A block fenced ```sh notest is shown but not run: use it for what
//     cannot run here (runs until Ctrl-C, needs other machines, is the
//     test suite itself) and say why in the prose or an HTML comment.
//   - A block fenced ```output right after an ```sh block lists lines that
//     block's standard output must contain, in any order, with runs of
//     blanks compared as one; "..." in a line matches anything (versions,
//     times). Lines it prints that are not listed are fine (background
//     jobs print too), so show what a reader should look for.
//   - Anything else (```toml, ```text, plain ```) is documentation only.
//
// The shell runs in a network and PID namespace of its own (unshare), so
// the README's fixed ports (7946, 7947, 8600, ...) are always free, nothing
// it starts can outlive the test, and no port needs remapping: the text
// runs verbatim. GOPATH is a temporary directory (with the real module and
// build caches), so `go install` builds real binaries for this run only;
// TMPDIR is the test's, so `mktemp -d` data and logs are printed when the
// test fails. The script must clean up after itself (stop its agents) like
// a reader would; the namespace kills whatever is left.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/testutil"
)

// fence is one fenced block of a markdown file.
type fence struct {
	info string // "sh", "sh notest", "output", ...
	body string
	line int // of the opening fence
}

// fences returns the fenced code blocks of a markdown document.
func fences(doc string) ([]fence, error) {
	var out []fence
	var cur *fence
	var body strings.Builder
	sc := bufio.NewScanner(strings.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &fence{info: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), line: n}
			body.Reset()
		case cur != nil && trimmed == "```":
			cur.body = body.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("fence opened on line %d is never closed", cur.line)
	}
	return out, sc.Err()
}

// step is one ```sh block to run and the lines its output must contain.
type step struct {
	fence
	want []string
}

// readmeSteps picks the runnable blocks of doc and their expected output.
func readmeSteps(doc string) ([]step, error) {
	fs, err := fences(doc)
	if err != nil {
		return nil, err
	}
	var steps []step
	for i, f := range fs {
		words := strings.Fields(f.info)
		switch {
		case len(words) > 0 && words[0] == "sh" && !strings.Contains(f.info, "notest"):
			steps = append(steps, step{fence: f})
		case f.info == "output":
			if i == 0 || fs[i-1].info != "sh" || len(steps) == 0 || steps[len(steps)-1].line != fs[i-1].line {
				return nil, fmt.Errorf("line %d: an ```output block must follow a ```sh block", f.line)
			}
			for _, l := range strings.Split(strings.TrimRight(f.body, "\n"), "\n") {
				steps[len(steps)-1].want = append(steps[len(steps)-1].want, l)
			}
		}
	}
	return steps, nil
}

// outputLine turns an expected line into a regexp: blanks collapse, "..."
// matches anything.
func outputLine(want string) *regexp.Regexp {
	parts := strings.Split(strings.Join(strings.Fields(want), " "), "...")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^` + strings.Join(parts, ".*") + `$`)
}

// missing returns the expected lines not found in out.
func missing(want []string, out string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	var miss []string
	for _, w := range want {
		re := outputLine(w)
		found := false
		for _, g := range got {
			if re.MatchString(g) {
				found = true
				break
			}
		}
		if !found {
			miss = append(miss, w)
		}
	}
	return miss
}

func TestReadmeSteps(t *testing.T) {
	doc := "# x\n```sh\necho a\n```\n\n```output\na\n```\ntext\n```sh notest\nsleep 1d\n```\n```toml\nk = 1\n```\n```sh\necho b c\n```\n"
	steps, err := readmeSteps(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].body != "echo a\n" || len(steps[0].want) != 1 || steps[1].body != "echo b c\n" || len(steps[1].want) != 0 {
		t.Fatalf("steps = %+v", steps)
	}
	if _, err := readmeSteps("```toml\nx\n```\n```output\ny\n```\n"); err == nil {
		t.Error("an output block after a toml block was accepted")
	}
	if _, err := readmeSteps("```sh\necho\n"); err == nil {
		t.Error("an unclosed fence was accepted")
	}
	out := "x\nwrote app/color (4 bytes, version 17.0)\nNAME  ADDRESS\n"
	if m := missing([]string{"wrote app/color (4 bytes, version ...)", "NAME ADDRESS", "nope"}, out); len(m) != 1 || m[0] != "nope" {
		t.Errorf("missing = %q", m)
	}
}

var (
	privateNetOnce sync.Once
	privateNetCmd  []string
	privateNetErr  error
)

// privateNet returns the command prefix that runs a program in a network
// and PID namespace of its own (loopback down until the program raises
// it), killed with everything it started when the test process dies. It
// skips the test when namespaces are not available, and fails it in CI.
func privateNet(t *testing.T) []string {
	t.Helper()
	testutil.NeedTool(t, "unshare", "apt-get install util-linux")
	testutil.NeedTool(t, "ip", "apt-get install iproute2")
	privateNetOnce.Do(func() {
		cmd := []string{"unshare", "--net", "--pid", "--fork", "--kill-child"}
		if os.Geteuid() != 0 {
			cmd = append(cmd[:1], append([]string{"--user", "--map-root-user"}, cmd[1:]...)...)
		}
		out, err := exec.Command(cmd[0], append(cmd[1:], "ip", "link", "set", "lo", "up")...).CombinedOutput()
		if err != nil {
			privateNetErr = fmt.Errorf("%s: %v: %s", strings.Join(cmd, " "), err, out)
			return
		}
		privateNetCmd = cmd
	})
	if privateNetErr != nil {
		if os.Getenv(testutil.RequireToolsEnv) == "1" {
			t.Fatalf("no private network namespace: %v", privateNetErr)
		}
		t.Skipf("no private network namespace: %v", privateNetErr)
	}
	return privateNetCmd
}

// runPrivate runs a bash script from the repository root inside
// privateNet with loopback up, and returns its stdout and stderr. The
// script and whatever it started are killed when ctx ends.
func runPrivate(t *testing.T, ctx context.Context, env []string, script string) (stdout, stderr string, err error) {
	t.Helper()
	prefix := privateNet(t)
	args := append(append([]string{}, prefix[1:]...), "bash", "-c", "ip link set lo up && exec bash -c \"$0\"", script)
	cmd := exec.CommandContext(ctx, prefix[0], args...)
	cmd.Dir = ".."
	cmd.Env = env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &syncWriter{w: &out}, &syncWriter{w: &errb}
	// SIGKILL reaches unshare when this test process dies; --kill-child
	// then kills the namespace's first process, and with it every process
	// in the PID namespace.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// syncWriter serialises writes from the process's two pipes' copiers.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// cleanEnv is the test's environment without variables that would change
// what a README command does on a reader's machine, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MURMUR_") || strings.HasPrefix(kv, "GOPATH=") || strings.HasPrefix(kv, "TMPDIR=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// readmeBudget bounds the whole README run, go install included; the run
// itself takes seconds once the binaries are built.
const readmeBudget = 8 * time.Minute

func TestREADME(t *testing.T) {
	testutil.NeedTool(t, "dig", "apt-get install dnsutils")
	privateNet(t)
	doc, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := readmeSteps(string(doc))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	checked := 0
	for _, s := range steps {
		checked += len(s.want)
	}
	if len(steps) < 5 || checked < 5 {
		t.Fatalf("README.md has %d ```sh blocks with %d expected lines: the walkthrough is gone or its fences changed", len(steps), checked)
	}

	var script strings.Builder
	script.WriteString("set -euo pipefail\nset -x\n")
	for i, s := range steps {
		fmt.Fprintf(&script, "printf '\\n@@ block %d @@\\n'\n%s", i, s.body)
	}
	script.WriteString("printf '\\n@@ end @@\\n'\n")

	tmp := t.TempDir()
	env := cleanEnv(
		"GOPATH="+filepath.Join(tmp, "gopath"),
		"GOMODCACHE="+goEnv(t, "GOMODCACHE"),
		"GOCACHE="+goEnv(t, "GOCACHE"),
		"GOTOOLCHAIN=local",
		"TMPDIR="+tmp,
	)
	ctx, cancel := context.WithTimeout(context.Background(), readmeBudget)
	defer cancel()
	stdout, stderr, err := runPrivate(t, ctx, env, script.String())

	// Split stdout at the block markers.
	outs := make([]string, len(steps))
	finished := false
	cur := -1
	for _, line := range strings.SplitAfter(stdout, "\n") {
		var n int
		switch {
		case strings.HasPrefix(line, "@@ end @@"):
			finished = true
			cur = -1
		case strings.HasPrefix(line, "@@ block "):
			if _, e := fmt.Sscanf(line, "@@ block %d @@", &n); e == nil && n < len(steps) {
				cur = n
			}
		case cur >= 0:
			outs[cur] += line
		}
	}
	failed := err != nil || !finished
	if failed {
		last := -1
		for i := range steps {
			if strings.Contains(stdout, fmt.Sprintf("@@ block %d @@", i)) {
				last = i
			}
		}
		where := "before the first block"
		if last >= 0 {
			where = fmt.Sprintf("in the block at README.md line %d:\n%s", steps[last].line, steps[last].body)
		}
		t.Errorf("the README's shell failed (%v) %s", err, where)
	}
	for i, s := range steps {
		if failed {
			break // the failure above says where; outputs after it are missing
		}
		if m := missing(s.want, outs[i]); len(m) > 0 {
			t.Errorf("README.md line %d: the output lacks %q; it was:\n%s", s.line, m, outs[i])
		}
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", stdout)
		t.Logf("stderr (set -x trace):\n%s", stderr)
		logFiles(t, tmp)
	}
}

// logFiles writes every *.log file under dir to the test log.
func logFiles(t *testing.T, dir string) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return nil
			}
			return err
		}
		if d.IsDir() && d.Name() == "gopath" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".log") {
			b, _ := os.ReadFile(path)
			t.Logf("---- %s ----\n%s", path, b)
		}
		return nil
	})
}
