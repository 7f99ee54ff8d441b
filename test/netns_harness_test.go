//go:build linux

package test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// The network-namespace lab of the fault suite (docs/testing.md).
//
// Topology of one lab, everything inside namespaces of its own so nothing
// touches the host's network stack:
//
//	mm<pid>-<seq>br   bridge br0 with ports p1..pN
//	mm<pid>-<seq>n<i> eth0 = 10.77.0.<i>/24 (veth peer of p<i>), lo up
//
// Agent i binds gossip on 10.77.0.<i>:7946 and serves HTTP and DNS on
// 127.0.0.1 of its own namespace (the same ports in every namespace: they
// are separate stacks). Faults are iptables rules in the chains MMIN and
// MMOUT of each node namespace (jumped to from INPUT and OUTPUT), so a
// heal is a flush of two chains; link faults set eth0 down.
//
// The test process reaches an agent's HTTP API and DNS by creating its
// sockets inside the agent's namespace: a goroutine locks its OS thread,
// setns(2)es into the namespace, dials, and switches back (inNetns). A
// socket stays in the namespace it was created in, so the connection is
// then used from any goroutine like any other. This is faster and more
// reliable than a helper process per request (ip netns exec agentctl/dig):
// no process start per poll, no dependency on curl or dig, and errors are
// Go errors rather than exit codes and stderr text.
//
// Cleanup, in layers: t.Cleanup kills the agents and deletes the lab's
// namespaces (which removes their veths and rules); a watchdog process
// (startWatchdog) deletes them should the test process die without
// running cleanups (go test -timeout, kill -9); and every run first sweeps
// namespaces of the mm<pid>- pattern whose pid no longer exists.

const (
	labNet      = "10.77.0."
	labGossip   = 7946
	labHTTPAddr = "127.0.0.1:7947"
	labDNSAddr  = "127.0.0.1:8600"
	// labGossipKey encrypts the lab's gossip (agentd refuses to gossip
	// beyond loopback without a key).
	labGossipKey = "bGFiLWdvc3NpcC1rZXktMzItYnl0ZXMtbG9uZyEhISE="
	netnsDir     = "/var/run/netns" // where ip netns keeps its names
	// requireNetnsEnv turns a skip into a failure, for CI that must run
	// the suite.
	requireNetnsEnv = "MURMUR_REQUIRE_NETNS"
	// keepLogsEnv names a directory the agents' logs are copied to at
	// the end of each scenario (they are printed only on failure).
	keepLogsEnv = "MURMUR_NETNS_LOGS"
)

var (
	netnsOnce sync.Once
	// netnsSkip is why the suite cannot run here ("" when it can).
	netnsSkip  string
	netnsSwept []string
	labSeq     atomic.Int32
	labNameRE  = regexp.MustCompile(`^mm([0-9]+)-`)
)

// requireNetns skips t unless the suite can run: root, ip, iptables and
// iptables-restore present, and iptables (with the statistic match),
// veth and bridge working in a fresh namespace. The first call also sweeps
// leftovers of crashed runs and starts the watchdog.
func requireNetns(t *testing.T) {
	t.Helper()
	netnsOnce.Do(func() { netnsSkip = probeNetns() })
	if len(netnsSwept) > 0 {
		t.Logf("removed namespaces left by earlier runs: %v", netnsSwept)
		netnsSwept = nil
	}
	if netnsSkip == "" {
		return
	}
	if os.Getenv(requireNetnsEnv) != "" {
		t.Fatalf("%s is set but the netns tests cannot run: %s", requireNetnsEnv, netnsSkip)
	}
	t.Skip("netns tests need root and ip/iptables: " + netnsSkip)
}

func probeNetns() string {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Sprintf("running as uid %d, not root", uid)
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("%s not found: %v", tool, err)
		}
	}
	netnsSwept = sweepStaleLabs()
	if err := startWatchdog(); err != nil {
		return fmt.Sprintf("cannot start the cleanup watchdog: %v", err)
	}
	probe := fmt.Sprintf("mm%d-probe", os.Getpid())
	if out, err := run("ip", "netns", "add", probe); err != nil {
		return fmt.Sprintf("ip netns add: %v: %s", err, out)
	}
	defer deleteNetns(probe)
	steps := [][]string{
		{"ip", "netns", "exec", probe, "iptables", "-w", "5", "-L", "-n"},
		{"ip", "netns", "exec", probe, "iptables", "-w", "5", "-A", "INPUT", "-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "DROP"},
		{"ip", "-n", probe, "link", "add", "b0", "type", "bridge"},
		{"ip", "-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1"},
	}
	for _, s := range steps {
		if out, err := run(s...); err != nil {
			return fmt.Sprintf("%s (in a fresh namespace): %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return ""
}

// run runs a command and returns its combined output.
func run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// sweepStaleLabs deletes namespaces named mm<pid>-... whose pid is gone
// (a run that died without cleaning up) and returns their names. Labs of
// live processes, other runs in parallel included, are left alone.
func sweepStaleLabs() []string {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return nil
	}
	var swept []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := labNameRE.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue // its creator still runs
		}
		deleteNetns(f[0])
		swept = append(swept, f[0])
	}
	return swept
}

// deleteNetns kills what still runs in a namespace, then deletes it. A
// namespace outlives its name while a process is inside, so the kill
// comes first.
func deleteNetns(name string) error {
	if out, err := run("ip", "netns", "pids", name); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if out, err := run("ip", "netns", "del", name); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, out)
	}
	return nil
}

// watchdogScript waits for the test process ($1) to end, then deletes
// the namespaces of its labs (prefix $2) and what runs in them. It is the
// cleanup of last resort when the test process dies without running
// t.Cleanup (go test -timeout panics, SIGKILL).
const watchdogScript = `pid=$1; prefix=$2
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
ip netns list | while read -r ns _; do
	case "$ns" in "$prefix"*) ;; *) continue ;; esac
	for p in $(ip netns pids "$ns"); do kill -9 "$p"; done
	ip netns del "$ns"
done`

// startWatchdog starts the watchdog in a session of its own (so ^C to the
// test's process group does not reach it) with no stdio (so go test does
// not wait for it).
func startWatchdog() error {
	pid := strconv.Itoa(os.Getpid())
	cmd := exec.Command("sh", "-c", watchdogScript, "mm-netns-watchdog", pid, "mm"+pid+"-")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it should it end first; it normally outlives us
	return nil
}

// inNetns runs f on an OS thread switched into the named network
// namespace. Sockets f creates belong to that namespace for good.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// A thread that cannot be switched back stays locked: Go then
		// ends it with this goroutine instead of reusing it elsewhere.
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open(filepath.Join(netnsDir, ns))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// nsDial dials addr from inside namespace ns ("" is the test's own).
func nsDial(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if ns == "" {
		return d.DialContext(ctx, network, addr)
	}
	var c net.Conn
	err := inNetns(ns, func() (err error) {
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// nsHTTPClient is an HTTP client whose connections are made in ns.
func nsHTTPClient(ns string) *http.Client {
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return nsDial(ctx, ns, network, addr)
			},
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

// dnsA asks p's DNS server (over UDP, from p's namespace) for the A
// records of name and returns the addresses sorted. An answer other than
// NOERROR is an error.
func (p *proc) dnsA(name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := nsDial(ctx, p.netns, "udp", p.dnsAddr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	co := &dns.Conn{Conn: c}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	r, err := co.ReadMsg()
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s: %s", name, dns.RcodeToString[r.Rcode])
	}
	var addrs []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.String())
		}
	}
	slices.Sort(addrs)
	return addrs, nil
}

// resetConns drops p's pooled HTTP connections (after a restart they
// lead to the dead process).
func (p *proc) resetConns() {
	if tr, ok := p.httpc().Transport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// memberMap is name → status as p sees it.
func (p *proc) memberMap() (map[string]string, error) {
	var ms []member
	if err := p.getJSON("/v1/members", &ms); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.Name] = m.Status
	}
	return out, nil
}

// logSince is p's log from byte offset off on.
func (p *proc) logSince(off int) string {
	l := p.log()
	if off > len(l) {
		return ""
	}
	return l[off:]
}

// netlab is one lab of n node namespaces on a bridge.
type netlab struct {
	t      *testing.T
	prefix string // mm<pid>-<seq>
	n      int
	made   []string // namespaces created, for destroy
}

// newNetlab builds a lab of n nodes (skipping t when it cannot). Its
// cleanup is registered first, so it runs after the agents' (LIFO).
func newNetlab(t *testing.T, n int) *netlab {
	t.Helper()
	requireNetns(t)
	l := &netlab{t: t, prefix: fmt.Sprintf("mm%d-%d", os.Getpid(), labSeq.Add(1)), n: n}
	t.Cleanup(l.destroy)
	br := l.bridge()
	l.ip("netns", "add", br)
	l.made = append(l.made, br)
	l.ip("-n", br, "link", "add", "br0", "type", "bridge")
	l.ip("-n", br, "link", "set", "br0", "up")
	for i := 1; i <= n; i++ {
		ns, port := l.ns(i), fmt.Sprintf("p%d", i)
		l.ip("netns", "add", ns)
		l.made = append(l.made, ns)
		l.ip("-n", br, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
		l.ip("-n", br, "link", "set", port, "master", "br0", "up")
		l.ip("-n", ns, "addr", "add", l.addr(i)+"/24", "dev", "eth0")
		l.ip("-n", ns, "link", "set", "eth0", "up")
		l.ip("-n", ns, "link", "set", "lo", "up")
		l.rules(i, "*filter\n:MMIN - [0:0]\n:MMOUT - [0:0]\n-A INPUT -j MMIN\n-A OUTPUT -j MMOUT\nCOMMIT\n")
	}
	return l
}

func (l *netlab) bridge() string    { return l.prefix + "br" }
func (l *netlab) ns(i int) string   { return fmt.Sprintf("%sn%d", l.prefix, i) }
func (l *netlab) addr(i int) string { return labNet + strconv.Itoa(i) }

func (l *netlab) ip(args ...string) {
	l.t.Helper()
	if out, err := run(append([]string{"ip"}, args...)...); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// rules feeds an iptables-restore script (without flushing) to node i.
func (l *netlab) rules(i int, script string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns(i), "iptables-restore", "-w", "5", "--noflush")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("iptables-restore in %s: %v: %s\n%s", l.ns(i), err, out, script)
	}
}

// setFaults replaces node i's fault rules with in (MMIN) and out (MMOUT).
func (l *netlab) setFaults(i int, in, out []string) {
	l.t.Helper()
	var b strings.Builder
	b.WriteString("*filter\n-F MMIN\n-F MMOUT\n")
	for _, r := range in {
		b.WriteString("-A MMIN " + r + "\n")
	}
	for _, r := range out {
		b.WriteString("-A MMOUT " + r + "\n")
	}
	b.WriteString("COMMIT\n")
	l.rules(i, b.String())
}

// partition cuts the lab into groups (every node in exactly one): each
// node drops packets from and to every node outside its group.
func (l *netlab) partition(groups ...[]int) {
	l.t.Helper()
	group := map[int]int{}
	for g, nodes := range groups {
		for _, i := range nodes {
			group[i] = g
		}
	}
	if len(group) != l.n {
		l.t.Fatalf("partition %v does not place each of %d nodes exactly once", groups, l.n)
	}
	for i := 1; i <= l.n; i++ {
		var in, out []string
		for j := 1; j <= l.n; j++ {
			if group[j] != group[i] {
				in = append(in, "-s "+l.addr(j)+" -j DROP")
				out = append(out, "-d "+l.addr(j)+" -j DROP")
			}
		}
		l.setFaults(i, in, out)
	}
}

// loss drops each packet arriving on eth0 with probability p, on every
// node: a packet between two agents is lost with probability p.
func (l *netlab) loss(p float64) {
	l.t.Helper()
	rule := fmt.Sprintf("-i eth0 -m statistic --mode random --probability %.3f -j DROP", p)
	for i := 1; i <= l.n; i++ {
		l.setFaults(i, []string{rule}, nil)
	}
}

// heal removes every iptables fault.
func (l *netlab) heal() {
	l.t.Helper()
	for i := 1; i <= l.n; i++ {
		l.setFaults(i, nil, nil)
	}
}

// link sets node i's eth0 up or down.
func (l *netlab) link(i int, up bool) {
	l.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	l.ip("-n", l.ns(i), "link", "set", "eth0", state)
}

// destroy deletes the lab's namespaces (with their veths and rules) and
// checks none is left.
func (l *netlab) destroy() {
	made := l.made
	l.made = nil // idempotent
	for _, ns := range made {
		if err := deleteNetns(ns); err != nil {
			l.t.Errorf("cleanup: %v", err)
		}
	}
	out, _ := run("ip", "netns", "list")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && slices.Contains(made, f[0]) {
			l.t.Errorf("cleanup: namespace %s still exists", f[0])
		}
	}
}

// agent starts agentd number i in its namespace without waiting for it.
// o.config is appended to fastGossip (bare keys land in its last table,
// [gossip]); o.join is ignored (every other lab node is joined).
func (l *netlab) agent(i int, o agentOpts) *proc {
	t := l.t
	t.Helper()
	binaries(t)
	p := &proc{
		t:        t,
		name:     fmt.Sprintf("n%d", i),
		netns:    l.ns(i),
		client:   nsHTTPClient(l.ns(i)),
		gossip:   fmt.Sprintf("%s:%d", l.addr(i), labGossip),
		httpAddr: labHTTPAddr,
		dnsAddr:  labDNSAddr,
		dataDir:  o.dataDir,
	}
	if p.dataDir == "" {
		p.dataDir = t.TempDir()
	}
	dir := t.TempDir()
	p.logPath = filepath.Join(dir, p.name+".log")
	cf := filepath.Join(dir, p.name+".toml")
	// Lab agents gossip on 10.77.0.x, beyond loopback: they need a key.
	writeFile(t, cf, fastGossip+"key = \""+labGossipKey+"\"\n"+o.config)
	p.args = []string{"-node", p.name, "-bind", p.gossip, "-http-addr", p.httpAddr, "-dns-addr", p.dnsAddr,
		"-data-dir", p.dataDir, "-log-level", "debug", "-config", cf}
	for j := 1; j <= l.n; j++ {
		if j != i {
			p.args = append(p.args, "-join", fmt.Sprintf("%s:%d", l.addr(j), labGossip))
		}
	}
	p.args = append(p.args, o.extra...)
	p.start()
	t.Cleanup(p.stop)
	return p
}

// serviceTOML is a [[service]] table for instance addr of svc.
func serviceTOML(svc, addr string) string {
	return fmt.Sprintf("\n[[service]]\nname = %q\naddress = %q\nport = 80\n", svc, addr)
}

// scenario is one fault scenario: a lab, its agents, a deadline every
// wait is capped by, and the metrics it reports.
type scenario struct {
	t        *testing.T
	name     string
	lab      *netlab
	deadline time.Time
	metrics  []string
}

// newScenario builds a lab of n nodes for scenario name with a budget.
func newScenario(t *testing.T, name string, n int, budget time.Duration) *scenario {
	t.Helper()
	requireNetns(t)
	binaries(t) // the first build is not part of any budget
	s := &scenario{t: t, name: name, deadline: time.Now().Add(budget)}
	start := time.Now()
	s.lab = newNetlab(t, n)
	s.metric("lab_setup_s", time.Since(start))
	t.Cleanup(s.report)
	return s
}

// metric records one measurement; durations are written in seconds.
func (s *scenario) metric(key string, v any) {
	switch x := v.(type) {
	case time.Duration:
		v = fmt.Sprintf("%.2f", x.Seconds())
	case float64:
		v = fmt.Sprintf("%.3f", x)
	}
	s.metrics = append(s.metrics, fmt.Sprintf("%s=%v", key, v))
}

// report logs the metrics as one parseable line (go test -v shows it).
func (s *scenario) report() {
	s.t.Logf("METRIC scenario=%s ok=%v %s", s.name, !s.t.Failed(), strings.Join(s.metrics, " "))
}

// cluster starts one agent per node (all at once), waits until each
// answers and all see each other alive, and checks at the end of the test
// that no agent logged a data race or a panic. opts may be nil.
func (s *scenario) cluster(opts func(i int) agentOpts) []*proc {
	s.t.Helper()
	start := time.Now()
	var ps []*proc
	for i := 1; i <= s.lab.n; i++ {
		var o agentOpts
		if opts != nil {
			o = opts(i)
		}
		ps = append(ps, s.lab.agent(i, o))
	}
	for _, p := range ps {
		p.waitReady()
	}
	s.waitAlive(ps, start, 30*time.Second)
	s.metric("cluster_up_s", time.Since(start))
	s.t.Cleanup(func() {
		for _, p := range ps {
			if dir := os.Getenv(keepLogsEnv); dir != "" {
				if err := os.WriteFile(filepath.Join(dir, s.t.Name()+"-"+p.name+".log"), []byte(p.log()), 0o644); err != nil {
					s.t.Logf("%s: %v", keepLogsEnv, err)
				}
			}
			for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
				if strings.Contains(p.log(), bad) {
					s.t.Errorf("%s logged %q (see its log)", p.name, bad)
				}
			}
		}
	})
	return ps
}

// restart restarts p on its data dir after it exited.
func (s *scenario) restart(p *proc) {
	s.t.Helper()
	p.resetConns()
	p.restart()
}

// waitUntil polls cond every 50ms until it holds and returns the time
// from since until then. After timeout (capped by the scenario deadline)
// it fails the test with cond's last explanation.
func (s *scenario) waitUntil(what string, since time.Time, timeout time.Duration, cond func() (bool, string)) time.Duration {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	if deadline.After(s.deadline) {
		deadline = s.deadline
	}
	nextNote := time.Now().Add(5 * time.Second)
	for {
		ok, why := cond()
		if ok {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("scenario %s: timed out after %v waiting for %s: %s", s.name, time.Since(since).Round(time.Millisecond), what, why)
		}
		if time.Now().After(nextNote) { // a slow wait says what it still waits for
			s.t.Logf("scenario %s: still waiting after %v for %s: %s", s.name, time.Since(since).Round(time.Millisecond), what, why)
			nextNote = time.Now().Add(5 * time.Second)
		}
		time.Sleep(50 * time.Millisecond) // poll interval of a deadline-bounded wait
	}
}

// check is one condition of waitAll, with the metric its time goes to.
type check struct {
	metric string
	cond   func() (bool, string)
}

// waitAll polls the checks together until each has held once, records
// each one's time from since to the moment it first held as its metric,
// and returns the times. Measuring them in one loop keeps each time
// independent of the order of the checks.
func (s *scenario) waitAll(since time.Time, timeout time.Duration, checks ...check) map[string]time.Duration {
	s.t.Helper()
	took := map[string]time.Duration{}
	s.waitUntil(fmt.Sprintf("%d conditions", len(checks)), since, timeout, func() (bool, string) {
		var pending []string
		for _, c := range checks {
			if _, done := took[c.metric]; done {
				continue
			}
			if ok, why := c.cond(); !ok {
				pending = append(pending, c.metric+": "+why)
				continue
			}
			took[c.metric] = time.Since(since)
		}
		return len(pending) == 0, strings.Join(pending, "; ")
	})
	for _, c := range checks {
		s.metric(c.metric, took[c.metric])
	}
	return took
}

// statusCheck holds when every observer sees each named member (other
// than itself) with status.
func statusCheck(metric string, observers []*proc, names []string, status string) check {
	return check{metric, func() (bool, string) {
		for _, o := range observers {
			mm, err := o.memberMap()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", o.name, err)
			}
			for _, n := range names {
				if n != o.name && mm[n] != status {
					return false, fmt.Sprintf("%s sees %s %q", o.name, n, mm[n])
				}
			}
		}
		return true, ""
	}}
}

// aliveCheck holds when every agent of ps sees every other alive.
func aliveCheck(metric string, ps []*proc) check {
	return statusCheck(metric, ps, procNames(ps), "alive")
}

// dnsCheck holds when name's A answer on every agent of ps is exactly
// want.
func dnsCheck(metric string, ps []*proc, name string, want []string) check {
	want = slices.Sorted(slices.Values(want))
	return check{metric, func() (bool, string) {
		for _, p := range ps {
			got, err := p.dnsA(name)
			if err != nil {
				return false, fmt.Sprintf("%s: %v", p.name, err)
			}
			if !slices.Equal(got, want) {
				return false, fmt.Sprintf("%s answers %v, want %v", p.name, got, want)
			}
		}
		return true, ""
	}}
}

// waitStatus waits until every observer sees each named member (other
// than itself) with status.
func (s *scenario) waitStatus(observers []*proc, names []string, status string, since time.Time, timeout time.Duration) time.Duration {
	s.t.Helper()
	what := fmt.Sprintf("%v to see %v %s", procNames(observers), names, status)
	return s.waitUntil(what, since, timeout, statusCheck("", observers, names, status).cond)
}

// waitAlive waits until every agent of ps sees every other alive.
func (s *scenario) waitAlive(ps []*proc, since time.Time, timeout time.Duration) time.Duration {
	s.t.Helper()
	return s.waitStatus(ps, procNames(ps), "alive", since, timeout)
}

// waitDNS waits until name's A answer on every agent of ps is exactly
// want.
func (s *scenario) waitDNS(ps []*proc, name string, want []string, since time.Time, timeout time.Duration) time.Duration {
	s.t.Helper()
	return s.waitUntil(fmt.Sprintf("%s on %v to answer %v", name, procNames(ps), want), since, timeout, dnsCheck("", ps, name, want).cond)
}

func procNames(ps []*proc) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.name)
	}
	return out
}

// logMarks are byte offsets into agents' logs, to read what they logged
// after a moment.
type logMarks map[*proc]int

func markLogs(ps []*proc) logMarks {
	m := logMarks{}
	for _, p := range ps {
		m[p] = len(p.log())
	}
	return m
}

// memberEventRE matches the agent's membership event log line.
var memberEventRE = regexp.MustCompile(`msg="member (\w+)".* member=(\S+)`)

// events counts the membership events of type typ each agent logged since
// the marks, and the distinct members they were about.
func (m logMarks) events(typ string) (count int, members []string) {
	for p, off := range m {
		for _, line := range strings.Split(p.logSince(off), "\n") {
			sm := memberEventRE.FindStringSubmatch(line)
			if sm == nil || sm[1] != typ {
				continue
			}
			count++
			if !slices.Contains(members, sm[2]) {
				members = append(members, sm[2])
			}
		}
	}
	slices.Sort(members)
	return count, members
}

// contains reports whether p logged s since the mark.
func (m logMarks) contains(p *proc, s string) bool {
	return strings.Contains(p.logSince(m[p]), s)
}
