package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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

// The end-to-end tests build agentd and agentctl once per test binary and
// run them as real processes on loopback.

var (
	buildOnce sync.Once
	buildErr  error
	binDir    string
)

// binaries builds agentd, agentctl and examples/embed (with -race when the tests run with
// it, so data races in the binaries fail the run too) and returns their
// directory.
func binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "murmur-e2e-bin-")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", binDir}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "../cmd/agentd", "../cmd/agentctl", "../examples/embed")
		cmd := exec.Command("go", args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// proc is one agentd process.
type proc struct {
	t        testing.TB
	name     string
	dataDir  string
	gossip   string // 127.0.0.1:port
	httpAddr string
	dnsAddr  string
	args     []string
	logPath  string
	// dynamic: agentd binds port 0 for gossip, HTTP and DNS, and each start
	// learns the ports it got from its log (no port is picked, closed and
	// bound again, which races with every other process on the machine).
	dynamic bool
	logFrom int64 // size of the log when the current process started
	// netns, when set, runs agentd inside that network namespace (ip
	// netns exec) and client dials into it (netns_harness_test.go).
	netns  string
	client *http.Client // nil: http.DefaultClient
	// scheme is "https" when the agent serves TLS ("" is http); token,
	// when set, goes with every request of the helpers.
	scheme string
	token  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit error once done is closed
}

// fastGossip is the config the tests run agents with: the local profile
// with short intervals so failures are detected in about a second.
const fastGossip = `
reconnect_interval = "500ms"
leave_timeout = "3s"

[gossip]
profile = "local"
probe_interval = "200ms"
probe_timeout = "100ms"
gossip_interval = "50ms"
push_pull_interval = "2s"
suspicion_mult = 3
dead_node_reclaim_time = "1s"
`

// agentOpts: extra flags must keep the log level at info or below, since
// the harness learns the agent's addresses from its info lines.
type agentOpts struct {
	join    []string
	extra   []string // more agentd flags
	config  string   // TOML body for -config (default fastGossip)
	noData  bool     // -dev without data dir
	dataDir string   // reuse a data dir (restart)
}

// startAgentd starts agentd on fresh loopback ports and waits until its
// HTTP API answers.
func startAgentd(t testing.TB, name string, o agentOpts) *proc {
	t.Helper()
	return startAgentdWith(t, name, o, nil)
}

// startAgentdWith is startAgentd with setup run on the proc before it
// starts (a TLS client, a token).
func startAgentdWith(t testing.TB, name string, o agentOpts, setup func(*proc)) *proc {
	t.Helper()
	binaries(t)
	p := &proc{
		t:       t,
		name:    name,
		dynamic: true,
		dataDir: o.dataDir,
	}
	if p.dataDir == "" && !o.noData {
		p.dataDir = t.TempDir()
	}
	p.logPath = filepath.Join(t.TempDir(), name+".log")
	port0 := "127.0.0.1:0"
	args := []string{"-node", name, "-bind", port0, "-http-addr", port0, "-dns-addr", port0, "-consul-addr=", "-log-level", "debug"}
	if p.dataDir != "" {
		args = append(args, "-data-dir", p.dataDir)
	} else {
		args = append(args, "-dev")
	}
	for _, j := range o.join {
		args = append(args, "-join", j)
	}
	cfgBody := o.config
	if cfgBody == "" {
		cfgBody = fastGossip
	}
	cf := filepath.Join(t.TempDir(), name+".toml")
	if err := os.WriteFile(cf, []byte(cfgBody), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(args, "-config", cf)
	p.args = append(args, o.extra...)
	if setup != nil {
		setup(p)
	}
	p.start()
	t.Cleanup(p.stop)
	p.waitReady()
	return p
}

func (p *proc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	if fi, err := logf.Stat(); err == nil {
		p.logFrom = fi.Size()
	}
	bin := filepath.Join(binDir, "agentd")
	cmd := exec.Command(bin, p.args...)
	if p.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", p.netns, bin}, p.args...)...)
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("start agentd %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err = cmd, done, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
}

// restart starts the process again with the same flags and data dir. A
// dynamic proc binds new ports: read p.gossip, p.httpAddr and p.dnsAddr
// (and make clients) after it, not before.
func (p *proc) restart() {
	p.t.Helper()
	p.start()
	p.waitReady()
}

func (p *proc) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// patience bounds every wait of the loopback end-to-end tests. What they
// wait for takes about a second; only a failure comes near this, so a busy
// machine slows the tests down instead of failing them.
const patience = 60 * time.Second

// readyTimeout bounds an agent's start; only a hang comes near it.
const readyTimeout = patience

// waitReady polls until the process has logged its addresses (dynamic
// ports) and its HTTP API answers.
func (p *proc) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if !p.running() {
			p.t.Fatalf("agentd %s exited during start: %v\n%s", p.name, p.exitErr(), p.log())
		}
		if !p.dynamic || p.learnAddrs() {
			resp, err := p.httpc().Get(p.url("/v1/agent/self"))
			if err == nil {
				resp.Body.Close()
				// With ACLs an answer without a token is 401: ready too.
				if resp.StatusCode == 200 || resp.StatusCode == 401 || resp.StatusCode == 403 {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond) // polling period of the deadline-bounded wait
	}
	p.t.Fatalf("agentd %s not ready after %v\n%s", p.name, readyTimeout, p.log())
}

// The lines agentd logs once a socket is bound, with the address it got.
var (
	gossipLine = regexp.MustCompile(`msg="agent started" .*\baddr=(\S+)`)
	httpLine   = regexp.MustCompile(`msg="HTTP API listening" .*\baddr=(\S+)`)
	dnsLine    = regexp.MustCompile(`msg="dns server started" .*\budp=(\S+)`)
)

// consulLine is logged once the Consul-compatible API is bound.
var consulLine = regexp.MustCompile(`msg="Consul-compatible API listening" .*\baddr=(\S+)`)

// loggedAddr returns the address in the first line of the current
// process's log that re matches (its first group), failing the test when
// there is none: for a socket other than the three learnAddrs reads.
func (p *proc) loggedAddr(re *regexp.Regexp) string {
	p.t.Helper()
	var addr string
	eventually(p.t, patience, fmt.Sprintf("%s to log a line matching %s", p.name, re), func() bool {
		b, err := os.ReadFile(p.logPath)
		if err == nil && int64(len(b)) >= p.logFrom {
			if m := re.FindSubmatch(b[p.logFrom:]); m != nil {
				addr = string(m[1])
			}
		}
		return addr != ""
	})
	return addr
}

// learnAddrs reads the addresses the current process bound from its log
// and reports whether all three are known.
func (p *proc) learnAddrs() bool {
	b, err := os.ReadFile(p.logPath)
	if err != nil || int64(len(b)) < p.logFrom {
		return false
	}
	log := string(b[p.logFrom:])
	var addrs [3]string
	for i, re := range []*regexp.Regexp{gossipLine, httpLine, dnsLine} {
		m := re.FindStringSubmatch(log)
		if m == nil {
			return false
		}
		addrs[i] = m[1]
	}
	p.gossip, p.httpAddr, p.dnsAddr = addrs[0], addrs[1], addrs[2]
	return true
}

// url is the URL of path on p's HTTP API.
func (p *proc) url(path string) string {
	scheme := p.scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + p.httpAddr + path
}

// do sends req to p's API with p's token.
func (p *proc) do(req *http.Request) (*http.Response, error) {
	if p.token != "" {
		req.Header.Set("X-Murmur-Token", p.token)
	}
	return p.httpc().Do(req)
}

// httpc is the client that reaches p's HTTP API.
func (p *proc) httpc() *http.Client {
	if p.client != nil {
		return p.client
	}
	return http.DefaultClient
}

func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *proc) signal(s syscall.Signal) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	_ = cmd.Process.Signal(s)
}

// wait waits for the process to exit and returns its exit error.
func (p *proc) wait(timeout time.Duration) (error, bool) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return p.exitErr(), true
	case <-time.After(timeout):
		return nil, false
	}
}

// kill9 kills the process with SIGKILL and waits for it.
func (p *proc) kill9() {
	p.signal(syscall.SIGKILL)
	if _, ok := p.wait(patience); !ok {
		p.t.Fatalf("%s did not die on SIGKILL", p.name)
	}
}

// stop ends the process (SIGKILL) at test end, logging its output when the
// test failed.
func (p *proc) stop() {
	if p.running() {
		p.signal(syscall.SIGKILL)
		p.wait(patience)
	}
	if strings.Contains(p.log(), "WARNING: DATA RACE") {
		p.t.Errorf("agentd %s logged a data race (see its log)", p.name)
	}
	if p.t.Failed() {
		p.t.Logf("---- log of %s ----\n%s", p.name, p.log())
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// getJSON GETs path from the agent's HTTP API into v.
func (p *proc) getJSON(path string, v any) error {
	req, _ := http.NewRequest(http.MethodGet, p.url(path), nil)
	resp, err := p.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(b.String()))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type member struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	Status  string `json:"status"`
}

// memberStatus returns name's status as p sees it ("" when unknown).
func (p *proc) memberStatus(name string) string {
	var ms []member
	if err := p.getJSON("/v1/members", &ms); err != nil {
		return ""
	}
	for _, m := range ms {
		if m.Name == name {
			return m.Status
		}
	}
	return ""
}

// agentctl runs agentctl against p and returns stdout, stderr and the exit
// code.
func (p *proc) agentctl(args ...string) (string, string, int) {
	return runCtl(p.t, "", append([]string{"-http-addr", p.httpAddr}, args...)...)
}

func runCtl(t testing.TB, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binaries(t), "agentctl"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, cmd)
}

// runCmd runs cmd and returns its stdout, stderr and exit code; a command
// that cannot run at all fails the test.
func runCmd(t testing.TB, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return out.String(), errb.String(), code
}

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Poll(t, timeout, 20*time.Millisecond, what, cond)
}

// allSee waits until every observer sees name with status.
func allSee(t testing.TB, observers []*proc, name, status string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("all agents to see %s %s", name, status), func() bool {
		for _, o := range observers {
			if o.name != name && o.memberStatus(name) != status {
				return false
			}
		}
		return true
	})
}

// cluster starts n agents, the others joining the first.
func cluster(t testing.TB, n int, o agentOpts) []*proc {
	t.Helper()
	first := startAgentd(t, "node1", o)
	ps := []*proc{first}
	for i := 2; i <= n; i++ {
		oi := o
		oi.join = append([]string{first.gossip}, o.join...)
		ps = append(ps, startAgentd(t, fmt.Sprintf("node%d", i), oi))
	}
	for _, p := range ps {
		allSee(t, ps, p.name, "alive", patience)
	}
	return ps
}
