package membership

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murmurhq/murmur/catalog"
)

// EventType says what happened to a member.
type EventType uint8

// Membership events.
const (
	// EventJoin: a member not known, failed or left before is alive.
	EventJoin EventType = iota
	// EventUpdate: an alive member's metadata or address changed.
	EventUpdate
	// EventSuspect: this agent's probes have not reached the member for a
	// while, nor a ping of its own (see Table.Stale).
	EventSuspect
	// EventAlive: a suspect member answered again.
	EventAlive
	// EventFailed: the member is declared failed.
	EventFailed
	// EventLeft: the member left gracefully.
	EventLeft
	// EventReap: a failed or left member was forgotten after reap_after.
	EventReap
)

func (t EventType) String() string {
	return [...]string{"join", "update", "suspect", "alive", "failed", "left", "reap"}[t]
}

// Event is one membership change.
type Event struct {
	Type   EventType
	Member catalog.Node
}

// Table is the agent's view of membership. memberlist forgets dead nodes
// after GossipToTheDeadTime and exposes neither suspicion nor leaves, so
// the agent keeps its own table, fed from memberlist's callbacks: it
// remembers failed and left members until they are reaped, tells a leave
// from a failure by the member's leave intent (Intents), and derives
// suspicion from this agent's own probes (Acked, Stale, MarkSuspect). All methods
// are safe for concurrent use; none blocks.
type Table struct {
	now     func() time.Time
	onEvent func(Event)

	mu sync.Mutex
	// members by name, and when each alive member last answered a probe
	// of this agent (or joined); guarded by mu.
	members map[string]*catalog.Node
	acked   map[string]time.Time
	// version counts changes, so a consumer can tell it is stale.
	version atomic.Uint64
}

// NewTable returns an empty table. onEvent is called for every change,
// under the table's lock so events come in the order of the changes; it
// must not block or call back into the table.
func NewTable(now func() time.Time, onEvent func(Event)) *Table {
	return &Table{now: now, onEvent: onEvent, members: map[string]*catalog.Node{}, acked: map[string]time.Time{}}
}

// Version increases with every change.
func (t *Table) Version() uint64 { return t.version.Load() }

// set records member m with the status status(prev) returns and emits an
// event of type typ. Called with t.mu held.
func (t *Table) set(m catalog.Node, typ EventType, status func(prev *catalog.Node) catalog.Status) {
	prev := t.members[m.Name]
	m.Status = status(prev)
	if prev != nil && prev.Status == m.Status {
		m.Since = prev.Since
	} else {
		m.Since = t.now()
	}
	cp := m
	t.members[m.Name] = &cp
	t.version.Add(1)
	t.onEvent(Event{Type: typ, Member: m})
}

func always(st catalog.Status) func(*catalog.Node) catalog.Status {
	return func(*catalog.Node) catalog.Status { return st }
}

// Join is memberlist's NotifyJoin.
func (t *Table) Join(m catalog.Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.acked[m.Name] = t.now()
	t.set(m, EventJoin, always(catalog.StatusAlive))
}

// Update is memberlist's NotifyUpdate: new metadata, same liveness.
func (t *Table) Update(m catalog.Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.set(m, EventUpdate, func(prev *catalog.Node) catalog.Status {
		if prev != nil && prev.Status == catalog.StatusSuspect {
			return catalog.StatusSuspect
		}
		return catalog.StatusAlive
	})
}

// Leave is memberlist's NotifyLeave: left when the node announced it
// (its leave intent arrived), else failed.
func (t *Table) Leave(m catalog.Node, left bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.acked, m.Name)
	if left {
		t.set(m, EventLeft, always(catalog.StatusLeft))
	} else {
		t.set(m, EventFailed, always(catalog.StatusFailed))
	}
}

// MarkLeft turns a member already seen failed into left (its leave intent
// arrived after memberlist declared it dead).
func (t *Table) MarkLeft(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.transition(name, catalog.StatusFailed, catalog.StatusLeft, EventLeft)
}

// Acked records that this agent's probe of the member completed
// (memberlist's NotifyPingComplete, or the agent's own ping): it is
// alive, and no longer suspect.
func (t *Table) Acked(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.members[name]; m != nil && m.Status.Live() {
		t.acked[name] = t.now()
		t.transition(name, catalog.StatusSuspect, catalog.StatusAlive, EventAlive)
	}
}

// Stale returns the live (alive or suspect) members, other than self, that
// have not answered a probe of this agent (nor joined) within window.
// memberlist offers no suspicion callback and its Node.State is never set
// (see docs/memberlist-notes.md), so suspicion is derived from what its
// API does report: completed direct probes (Acked). It probes one member
// per probe interval, round robin, so a member answers within about a
// round of (members − 1) probe intervals unless probes fail; the caller
// picks window from that, pings the stale members itself
// (memberlist.Ping) and marks suspect those that do not answer.
func (t *Table) Stale(self string, window time.Duration) []catalog.Node {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var out []catalog.Node
	for name, m := range t.members {
		if name == self || !m.Status.Live() {
			continue
		}
		if at, ok := t.acked[name]; ok && now.Sub(at) <= window {
			continue
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b catalog.Node) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// MarkSuspect marks an alive member suspect: it did not answer this
// agent's probes nor its own ping. Acked clears it.
func (t *Table) MarkSuspect(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.transition(name, catalog.StatusAlive, catalog.StatusSuspect, EventSuspect)
}

// transition moves a member from one status to another. Called with t.mu
// held.
func (t *Table) transition(name string, from, to catalog.Status, typ EventType) {
	m := t.members[name]
	if m == nil || m.Status != from {
		return
	}
	m.Status = to
	m.Since = t.now()
	t.version.Add(1)
	t.onEvent(Event{Type: typ, Member: *m})
}

// Reap forgets failed and left members whose status is older than after,
// and returns them.
func (t *Table) Reap(after time.Duration) []catalog.Node {
	now := t.now()
	var gone []catalog.Node
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, m := range t.members {
		if (m.Status == catalog.StatusFailed || m.Status == catalog.StatusLeft) && now.Sub(m.Since) >= after {
			gone = append(gone, *m)
			delete(t.members, name)
			t.version.Add(1)
			t.onEvent(Event{Type: EventReap, Member: *m})
		}
	}
	return gone
}

// Get returns a copy of the named member.
func (t *Table) Get(name string) (catalog.Node, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.members[name]
	if !ok {
		return catalog.Node{}, false
	}
	return *m, true
}

// List returns copies of all members sorted by name.
func (t *Table) List() []catalog.Node {
	t.mu.Lock()
	out := make([]catalog.Node, 0, len(t.members))
	for _, m := range t.members {
		out = append(out, *m)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b catalog.Node) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// WithStatus returns the members in any of the given states, by name.
func (t *Table) WithStatus(sts ...catalog.Status) []catalog.Node {
	var out []catalog.Node
	for _, m := range t.List() {
		if slices.Contains(sts, m.Status) {
			out = append(out, m)
		}
	}
	return out
}

// Pick returns up to n alive members, other than those named in except,
// in the order shuffle leaves them (the caller's seeded source).
func (t *Table) Pick(n int, shuffle func(n int, swap func(i, j int)), except ...string) []string {
	var cand []string
	for _, m := range t.WithStatus(catalog.StatusAlive) {
		if !slices.Contains(except, m.Name) {
			cand = append(cand, m.Name)
		}
	}
	shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	return cand[:min(n, len(cand))]
}

// Count returns how many members are in any of the given states.
func (t *Table) Count(sts ...catalog.Status) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, m := range t.members {
		if slices.Contains(sts, m.Status) {
			n++
		}
	}
	return n
}
