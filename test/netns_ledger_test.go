//go:build linux

package test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

// The fault suite's bookkeeping: a ledger of every write and its outcome,
// the check that the agents hold exactly what was acknowledged, and
// bounded background traffic (a write stream, a DNS prober) that can tell
// a failure of an agent that was up from one that raced a restart.

// kvVer is a write's version as the API shows it ("WALLMS.LOGICAL" and
// the origin), ordered as configsync orders versions.
type kvVer struct {
	wall, logical uint64
	origin        string
}

func parseVer(s, origin string) (kvVer, error) {
	w, l, ok := strings.Cut(s, ".")
	wall, err1 := strconv.ParseUint(w, 10, 64)
	logical, err2 := strconv.ParseUint(l, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return kvVer{}, fmt.Errorf("bad version %q", s)
	}
	return kvVer{wall, logical, origin}, nil
}

func (v kvVer) cmp(w kvVer) int {
	if c := cmp.Compare(v.wall, w.wall); c != 0 {
		return c
	}
	if c := cmp.Compare(v.logical, w.logical); c != 0 {
		return c
	}
	return cmp.Compare(v.origin, w.origin)
}

func (v kvVer) String() string { return fmt.Sprintf("%d.%d@%s", v.wall, v.logical, v.origin) }

// kvWrite is one write attempt.
type kvWrite struct {
	seq               int
	key, value, via   string
	acked             bool
	ver               kvVer // when acked
	err               string
	started, finished time.Time
}

// ledger records every write under prefix. Values are unique per write,
// so a value read back names the write it came from.
type ledger struct {
	prefix string

	mu sync.Mutex
	// seq and writes are guarded by mu.
	seq    int
	writes map[string][]*kvWrite
}

func newLedger(prefix string) *ledger {
	return &ledger{prefix: prefix, writes: map[string][]*kvWrite{}}
}

// put writes key through p and records the outcome; the error is nil when
// the agent acknowledged the write. Safe for concurrent use.
func (lg *ledger) put(p *proc, key string) (*kvWrite, error) {
	lg.mu.Lock()
	lg.seq++
	w := &kvWrite{seq: lg.seq, key: key, via: p.name, value: fmt.Sprintf("%s|%s|%d", key, p.name, lg.seq), started: time.Now()}
	lg.writes[key] = append(lg.writes[key], w)
	lg.mu.Unlock()
	pair, err := p.kvPutPair(key, []byte(w.value))
	var ver kvVer
	if err == nil {
		ver, err = parseVer(pair.Version, pair.Origin)
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	w.finished = time.Now()
	if err != nil {
		w.err = err.Error()
		return w, err
	}
	w.acked, w.ver = true, ver
	return w, nil
}

// mustPut is put that fails the test unless the write is acknowledged.
func (lg *ledger) mustPut(t testing.TB, p *proc, key string) *kvWrite {
	t.Helper()
	w, err := lg.put(p, key)
	if err != nil {
		t.Fatalf("put %s on %s: %v", key, p.name, err)
	}
	return w
}

// counts returns how many writes were attempted and acknowledged.
func (lg *ledger) counts() (attempted, acked int) {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	for _, ws := range lg.writes {
		for _, w := range ws {
			attempted++
			if w.acked {
				acked++
			}
		}
	}
	return attempted, acked
}

// filter returns a ledger with only the writes keep accepts (for the view
// one side of a partition must have).
func (lg *ledger) filter(keep func(*kvWrite) bool) *ledger {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	out := newLedger(lg.prefix)
	out.seq = lg.seq
	for k, ws := range lg.writes {
		for _, w := range ws {
			if keep(w) {
				cp := *w
				out.writes[k] = append(out.writes[k], &cp)
			}
		}
	}
	return out
}

// kvPutPair PUTs key on p and returns the acknowledged pair.
func (p *proc) kvPutPair(key string, value []byte) (client.KVPair, error) {
	req, err := http.NewRequest(http.MethodPut, "http://"+p.httpAddr+"/v1/kv/"+key, bytes.NewReader(value))
	if err != nil {
		return client.KVPair{}, err
	}
	resp, err := p.httpc().Do(req)
	if err != nil {
		return client.KVPair{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return client.KVPair{}, fmt.Errorf("PUT %s: %s: %s", key, resp.Status, strings.TrimSpace(string(b)))
	}
	var pair client.KVPair
	if err := json.Unmarshal(b, &pair); err != nil {
		return client.KVPair{}, fmt.Errorf("PUT %s: %w", key, err)
	}
	return pair, nil
}

// kvList reads every pair under prefix from p.
func (p *proc) kvList(prefix string) (map[string]client.KVPair, error) {
	resp, err := p.httpc().Get("http://" + p.httpAddr + "/v1/kv/" + prefix + "?recurse")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]client.KVPair{}
	if resp.StatusCode == http.StatusNotFound {
		return out, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list %s: %s", prefix, resp.Status)
	}
	var pairs []client.KVPair
	if err := json.NewDecoder(resp.Body).Decode(&pairs); err != nil {
		return nil, err
	}
	for _, kp := range pairs {
		out[kp.Key] = kp
	}
	return out, nil
}

func samePair(a, b client.KVPair) bool {
	return a.Version == b.Version && a.Origin == b.Origin && bytes.Equal(a.Value, b.Value)
}

// diff compares what the agents hold under the ledger's prefix with each
// other and with the ledger. It returns "" when all agents hold the same
// entries (value, version, origin) and, for every key: when a write of it
// was acknowledged, the key is present with a version no older than the
// newest acknowledged write (and that write's value when the versions are
// equal: no acknowledged write is lost); its value is one written to that
// key; and no key exists that was never written. Otherwise it describes
// the first difference.
func (lg *ledger) diff(ps []*proc) string {
	views := make([]map[string]client.KVPair, len(ps))
	for i, p := range ps {
		v, err := p.kvList(lg.prefix)
		if err != nil {
			return fmt.Sprintf("%s: %v", p.name, err)
		}
		views[i] = v
	}
	base := views[0]
	for i, v := range views[1:] {
		other := ps[i+1].name
		keys := slices.Sorted(maps.Keys(base))
		for k := range v {
			if _, ok := base[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		n, first := 0, ""
		for _, k := range keys {
			a, okA := base[k]
			b, okB := v[k]
			if okA && okB && samePair(a, b) {
				continue
			}
			if n++; first == "" {
				first = fmt.Sprintf("%s: %s has %q (%s@%s), %s has %q (%s@%s)", k, ps[0].name, a.Value, a.Version, a.Origin, other, b.Value, b.Version, b.Origin)
			}
		}
		if n > 0 {
			return fmt.Sprintf("%s and %s differ on %d keys, first %s", ps[0].name, other, n, first)
		}
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	keys := make([]string, 0, len(lg.writes))
	for k := range lg.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ws := lg.writes[k]
		var newest *kvWrite
		for _, w := range ws {
			if w.acked && (newest == nil || w.ver.cmp(newest.ver) > 0) {
				newest = w
			}
		}
		e, ok := base[k]
		if !ok {
			if newest != nil {
				return fmt.Sprintf("%s absent, acknowledged %q (%v) through %s", k, newest.value, newest.ver, newest.via)
			}
			continue
		}
		if !slices.ContainsFunc(ws, func(w *kvWrite) bool { return w.value == string(e.Value) }) {
			return fmt.Sprintf("%s=%q was never written", k, e.Value)
		}
		if newest == nil {
			continue
		}
		ev, err := parseVer(e.Version, e.Origin)
		if err != nil {
			return fmt.Sprintf("%s: %v", k, err)
		}
		switch c := ev.cmp(newest.ver); {
		case c < 0:
			return fmt.Sprintf("%s=%q (%v) is older than acknowledged %q (%v)", k, e.Value, ev, newest.value, newest.ver)
		case c == 0 && string(e.Value) != newest.value:
			return fmt.Sprintf("%s=%q has the version of acknowledged %q (%v)", k, e.Value, newest.value, newest.ver)
		}
	}
	for k := range base {
		if _, ok := lg.writes[k]; !ok {
			return fmt.Sprintf("%s exists but was never written", k)
		}
	}
	return ""
}

// missing counts the acknowledged writes keep accepts that p does not
// hold (key absent or at an older version), with one example.
func (lg *ledger) missing(p *proc, keep func(*kvWrite) bool) (int, string) {
	view, err := p.kvList(lg.prefix)
	if err != nil {
		return -1, err.Error()
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	n, example := 0, ""
	for k, ws := range lg.writes {
		for _, w := range ws {
			if !w.acked || !keep(w) {
				continue
			}
			e, ok := view[k]
			var ev kvVer
			if ok {
				ev, _ = parseVer(e.Version, e.Origin)
			}
			if !ok || ev.cmp(w.ver) < 0 {
				n++
				example = fmt.Sprintf("%s lacks %s=%q (%v)", p.name, k, w.value, w.ver)
			}
		}
	}
	return n, example
}

// convergedCheck holds when lg.diff(ps) is empty.
func convergedCheck(metric string, ps []*proc, lg *ledger) check {
	return check{metric, func() (bool, string) {
		d := lg.diff(ps)
		return d == "", d
	}}
}

// waitConverged waits until lg.diff(ps) is empty.
func (s *scenario) waitConverged(ps []*proc, lg *ledger, since time.Time, timeout time.Duration) time.Duration {
	s.t.Helper()
	return s.waitUntil(fmt.Sprintf("%v to converge on %s", procNames(ps), lg.prefix), since, timeout, func() (bool, string) {
		d := lg.diff(ps)
		return d == "", d
	})
}

// liveness is which agents a scenario considers up, each with an epoch
// bumped on every change. Background clients read both before and after
// a request: a request that fails while its agent was up throughout is a
// defect; one that overlapped a restart is not counted.
type liveness struct {
	ps []*proc

	mu sync.Mutex
	// up and epoch are guarded by mu.
	up    map[*proc]bool
	epoch map[*proc]int
}

func newLiveness(ps []*proc) *liveness {
	lv := &liveness{ps: ps, up: map[*proc]bool{}, epoch: map[*proc]int{}}
	for _, p := range ps {
		lv.up[p] = true
	}
	return lv
}

func (lv *liveness) set(p *proc, up bool) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	lv.up[p] = up
	lv.epoch[p]++
}

func (lv *liveness) state(p *proc) (bool, int) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	return lv.up[p], lv.epoch[p]
}

// pick returns the n-th up agent in turn, or nil when none is up.
func (lv *liveness) pick(n int) *proc {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	var up []*proc
	for _, p := range lv.ps {
		if lv.up[p] {
			up = append(up, p)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[n%len(up)]
}

// upThroughout runs f against p and reports whether p was up before and
// after without a change in between.
func (lv *liveness) upThroughout(p *proc, f func()) bool {
	up1, e1 := lv.state(p)
	f()
	up2, e2 := lv.state(p)
	return up1 && up2 && e1 == e2
}

// traffic is a bounded background loop (write stream or DNS prober).
type traffic struct {
	stopc, done chan struct{}
	ok, failed  atomic.Int64

	mu sync.Mutex
	// errs are failures against agents that were up throughout, lat the
	// durations of successful requests; guarded by mu.
	errs []string
	lat  []time.Duration
}

func (tr *traffic) took(d time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lat = append(tr.lat, d)
}

// latency returns the median and the largest duration of the successful
// requests.
func (tr *traffic) latency() (p50, worst time.Duration) {
	tr.mu.Lock()
	lat := slices.Clone(tr.lat)
	tr.mu.Unlock()
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)-1]
}

// run calls step(i) every interval until stop, max steps or deadline.
func (tr *traffic) run(every time.Duration, max int, deadline time.Time, step func(i int)) {
	tr.stopc, tr.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(tr.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; i < max && time.Now().Before(deadline); i++ {
			step(i)
			select {
			case <-tick.C:
			case <-tr.stopc:
				return
			}
		}
	}()
}

// stop ends the loop and waits for it.
func (tr *traffic) stop() {
	select {
	case <-tr.stopc:
	default:
		close(tr.stopc)
	}
	<-tr.done
}

func (tr *traffic) fail(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.errs) < 10 {
		tr.errs = append(tr.errs, fmt.Sprintf(format, args...))
	}
}

func (tr *traffic) errors() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.errs)
}

// writeStream writes keyPrefix<n> through the up agents in turn, one
// write per interval, at most max writes. A write refused by an agent that
// was up throughout is recorded as an error.
func (s *scenario) writeStream(lg *ledger, lv *liveness, keyPrefix string, every time.Duration, max int) *traffic {
	tr := &traffic{}
	tr.run(every, max, s.deadline, func(i int) {
		p := lv.pick(i)
		if p == nil {
			return
		}
		var err error
		start := time.Now()
		if lv.upThroughout(p, func() { _, err = lg.put(p, fmt.Sprintf("%s%05d", keyPrefix, i)) }) && err != nil {
			tr.failed.Add(1)
			tr.fail("write through %s: %v", p.name, err)
			return
		}
		if err == nil {
			tr.ok.Add(1)
			tr.took(time.Since(start))
		}
	})
	return tr
}

// dnsProber asks the up agents in turn for name's A records every
// interval; an error or an empty answer from an agent that was up
// throughout is a failure.
func (s *scenario) dnsProber(lv *liveness, name string, every time.Duration) *traffic {
	tr := &traffic{}
	tr.run(every, 1<<30, s.deadline, func(i int) {
		p := lv.pick(i)
		if p == nil {
			return
		}
		var addrs []string
		var err error
		start := time.Now()
		if !lv.upThroughout(p, func() { addrs, err = p.dnsA(name) }) {
			return
		}
		if err != nil || len(addrs) == 0 {
			tr.failed.Add(1)
			tr.fail("%s on %s at %s: %v %v", name, p.name, time.Now().Format("15:04:05.000"), addrs, err)
			return
		}
		tr.ok.Add(1)
		tr.took(time.Since(start))
	})
	return tr
}

// waitCount waits until the traffic has n successes.
func (s *scenario) waitCount(tr *traffic, n int64, since time.Time, timeout time.Duration) {
	s.t.Helper()
	s.waitUntil(fmt.Sprintf("%d successful requests", n), since, timeout, func() (bool, string) {
		got := tr.ok.Load()
		return got >= n, fmt.Sprintf("%d so far, errors %v", got, tr.errors())
	})
}
