package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

// procs tracks every process the runner starts, so that each one is
// killed whatever way the runner ends: normally, on an error, or on
// SIGINT/SIGTERM. Each child runs in its own process group (killed as a
// group) and gets SIGKILL from the kernel if the runner dies first
// (Pdeathsig).
type procs struct {
	mu sync.Mutex
	// live is guarded by mu.
	live map[*exec.Cmd]struct{}
}

func newProcs() *procs { return &procs{live: map[*exec.Cmd]struct{}{}} }

// start starts cmd as a tracked child. The caller must call wait or kill.
func (p *procs) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live == nil {
		return errors.New("bench: shutting down")
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.live[cmd] = struct{}{}
	return nil
}

// done forgets a child that has exited.
func (p *procs) done(cmd *exec.Cmd) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.live, cmd)
}

// killAll sends SIGKILL to every live child's process group and refuses
// new starts.
func (p *procs) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for cmd := range p.live {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	p.live = nil
}

// agentProc is one agentd process on loopback.
type agentProc struct {
	name     string
	gossip   string
	httpAddr string
	dnsAddr  string
	dataDir  string
	logPath  string
	cmd      *exec.Cmd
	api      *client.Client
	exited   chan struct{}
}

// pid of the running process.
func (a *agentProc) pid() int { return a.cmd.Process.Pid }

// kill9 kills the process with SIGKILL and waits for it to exit.
func (a *agentProc) kill9() {
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.exited
}

// stop ends the process (SIGKILL: the figures never need a graceful
// leave) and waits for it.
func (a *agentProc) stop() {
	select {
	case <-a.exited:
		return
	default:
	}
	a.kill9()
}

func (a *agentProc) running() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// logTail is the end of the agent's log, for error messages.
func (a *agentProc) logTail() string {
	b, _ := os.ReadFile(a.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// agentSpec says how to start one agentd.
type agentSpec struct {
	name    string
	join    []string
	config  string // TOML body
	dataDir string // "" = a fresh one under dir
	// idle starts agentd under the SCHED_IDLE policy (chrt --idle 0): it
	// gets a CPU only when no normal process wants it, and a normal
	// process that wakes preempts it at once. Under nice 19 alone, the
	// kernel's EEVDF scheduler can let it finish its slice first, which
	// delays the process that woke (dnsperf's receive thread, say) by up
	// to a few milliseconds.
	idle bool
	// cpus, when set, confines agentd to those CPUs (taskset -c).
	cpus string
	// api, when set, is the client of an agent that serves HTTPS or needs
	// a token; it gets the agent's address.
	api func(addr string) (*client.Client, error)
}

// startAgent starts agentd on fresh loopback ports and waits until its
// HTTP API answers. The ports are free when picked but not held (agentd
// runs at log level warn, so it cannot report ports 0 got): when another
// process takes one first, agentd exits with "address already in use" and
// startAgent tries again on other ports.
func (e *env) startAgent(ctx context.Context, s agentSpec) (*agentProc, error) {
	for try := 1; ; try++ {
		a, err := e.startAgentOnce(ctx, s)
		if err == nil || try == portTries || !errors.Is(err, errPortTaken) {
			return a, err
		}
		e.logf("agentd %s: a port was taken before it bound it; trying other ports: %v", s.name, err)
		// The next try's log starts empty, so its failure is its own.
		if err := os.Remove(filepath.Join(e.dir, "logs", s.name+".log")); err != nil {
			return nil, err
		}
	}
}

// portTries bounds the retries of a start that lost a port to another
// process.
const portTries = 5

// errPortTaken: a process exited at start because a port it was given had
// been taken in the meantime.
var errPortTaken = errors.New("bench: port taken")

func (e *env) startAgentOnce(ctx context.Context, s agentSpec) (*agentProc, error) {
	a := &agentProc{
		name:    s.name,
		dataDir: s.dataDir,
		logPath: filepath.Join(e.dir, "logs", s.name+".log"),
		exited:  make(chan struct{}),
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	a.gossip = fmt.Sprintf("127.0.0.1:%d", ports[0])
	a.httpAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	a.dnsAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	if a.dataDir == "" {
		a.dataDir = filepath.Join(e.dir, "data", s.name)
	}
	if err := os.MkdirAll(filepath.Dir(a.logPath), 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(e.dir, "conf", s.name+".toml")
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfgPath, []byte(s.config), 0o600); err != nil {
		return nil, err
	}
	args := []string{"-node", s.name, "-bind", a.gossip, "-http-addr", a.httpAddr, "-dns-addr", a.dnsAddr,
		"-data-dir", a.dataDir, "-config", cfgPath, "-log-level", "warn"}
	for _, j := range s.join {
		args = append(args, "-join", j)
	}
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	argv := onCPUs(s.cpus, append([]string{e.bin("agentd")}, args...))
	if s.idle {
		argv = asIdle(argv)
	}
	a.cmd = exec.Command(argv[0], argv[1:]...)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	a.cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(e.gomaxprocs))
	if err := e.procs.start(a.cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start agentd %s: %w", s.name, err)
	}
	go func() {
		_ = a.cmd.Wait()
		logf.Close()
		e.procs.done(a.cmd)
		close(a.exited)
	}()
	if s.api != nil {
		a.api, err = s.api(a.httpAddr)
	} else {
		a.api, err = client.New(a.httpAddr, client.WithHTTPClient(e.hc))
	}
	if err != nil {
		a.stop()
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if !a.running() {
			if tail := a.logTail(); strings.Contains(tail, "address already in use") {
				return nil, fmt.Errorf("%w: agentd %s exited during start:\n%s", errPortTaken, s.name, tail)
			}
			return nil, fmt.Errorf("agentd %s exited during start:\n%s", s.name, a.logTail())
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := a.api.Self(rctx)
		cancel()
		if err == nil {
			return a, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			a.stop()
			return nil, fmt.Errorf("agentd %s not ready: %v\n%s", s.name, err, a.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// asIdle runs the command argv under the SCHED_IDLE policy (chrt --idle
// 0): on a CPU it shares, it runs only when no normal process wants it.
func asIdle(argv []string) []string {
	return append([]string{"chrt", "--idle", "0"}, argv...)
}

// onCPUs confines the command argv to the given CPUs (taskset -c); ""
// leaves it as it is.
func onCPUs(cpus string, argv []string) []string {
	if cpus == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

// freePorts returns n distinct ports free for both TCP and UDP on
// 127.0.0.1 right now. Another process may take one before it is bound;
// startAgent then tries again (errPortTaken).
func freePorts(n int) ([]int, error) {
	var ports []int
	var hold []io.Closer
	defer func() {
		for _, c := range hold {
			c.Close()
		}
	}()
	for tries := 0; len(ports) < n && tries < 100; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			l.Close()
			continue
		}
		hold = append(hold, l, u)
		ports = append(ports, port)
	}
	if len(ports) < n {
		return nil, errors.New("bench: no free ports on 127.0.0.1")
	}
	return ports, nil
}

// cluster is a set of agentd processes joined together.
type cluster struct {
	agents []*agentProc
}

func (c *cluster) stop() {
	for _, a := range c.agents {
		a.stop()
	}
}

// startCluster starts n agents with the given config; every agent after
// the first joins the first. It returns once every agent sees n alive
// members, or fails after timeout. adjust, when not nil, changes the spec
// of agent i (0-based) before it starts.
func (e *env) startCluster(ctx context.Context, n int, config string, timeout time.Duration, adjust func(i int, s *agentSpec)) (*cluster, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &cluster{}
	spec := func(i int, join []string) agentSpec {
		s := agentSpec{name: fmt.Sprintf("n%02d", i+1), config: config, join: join}
		if adjust != nil {
			adjust(i, &s)
		}
		return s
	}
	first, err := e.startAgent(ctx, spec(0, nil))
	if err != nil {
		return nil, err
	}
	c.agents = append(c.agents, first)
	for i := 2; i <= n; i++ {
		a, err := e.startAgent(ctx, spec(i-1, []string{first.gossip}))
		if err != nil {
			c.stop()
			return nil, err
		}
		c.agents = append(c.agents, a)
	}
	lastRejoin := time.Now()
	for {
		var behind []*agentProc
		for _, a := range c.agents {
			ms, err := a.api.Members(ctx, "alive")
			if err != nil || len(ms) != n {
				behind = append(behind, a)
			}
		}
		if len(behind) == 0 {
			return c, nil
		}
		// As in the in-process clusters: a member missed by the join
		// gossip is found by a push/pull with the first agent.
		if time.Since(lastRejoin) > 5*time.Second {
			lastRejoin = time.Now()
			for _, a := range behind {
				_, _ = a.api.Join(ctx, []string{first.gossip}) // retried until all are seen
			}
		}
		if ctx.Err() != nil {
			c.stop()
			return nil, fmt.Errorf("bench: %d agents did not all see each other alive within %v", n, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// memStatus is the resident memory of a process from /proc/PID/status,
// in bytes: VmRSS and its anonymous and file-backed parts (the binary's
// pages and bbolt's memory map are file-backed).
type memStatus struct {
	RSS, Anon, File int64
}

func procMem(pid int) (memStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	defer f.Close()
	var m memStatus
	fields := map[string]*int64{"VmRSS:": &m.RSS, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[2] != "kB" || fields[f[0]] == nil {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return m, fmt.Errorf("bench: bad %s line in /proc/%d/status", f[0], pid)
		}
		*fields[f[0]] = kb << 10
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("bench: no VmRSS for pid %d", pid)
	}
	return m, sc.Err()
}

// scrapeMetrics returns the text of an agent's /metrics.
func (e *env) scrapeMetrics(ctx context.Context, httpAddr string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("bench: GET /metrics: %s", resp.Status)
	}
	return string(b), nil
}

// metricValues returns the samples of metric name in a Prometheus text
// exposition, keyed by their label string ("" without labels).
func metricValues(text, name string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		} else if !strings.HasPrefix(rest, " ") {
			continue // another metric with this prefix
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[labels] = v
	}
	return out
}
