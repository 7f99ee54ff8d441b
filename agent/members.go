package agent

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Status is a member's state as users see it.
type Status uint8

// Member states. memberlist's "dead" is shown as failed.
const (
	StatusAlive Status = iota
	StatusSuspect
	StatusFailed
	StatusLeft
)

func (s Status) String() string {
	switch s {
	case StatusAlive:
		return "alive"
	case StatusSuspect:
		return "suspect"
	case StatusFailed:
		return "failed"
	case StatusLeft:
		return "left"
	}
	return "unknown"
}

// ParseStatus is the inverse of Status.String.
func ParseStatus(s string) (Status, bool) {
	for st := StatusAlive; st <= StatusLeft; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// Member is one node of the cluster as this agent sees it. Values are
// copies: changing one changes nothing in the agent.
type Member struct {
	Name     string
	Addr     netip.Addr
	Port     uint16
	Status   Status
	Meta     map[string]string
	Protocol uint8
	// Since is when Status last changed, by this agent's clock.
	Since time.Time
}

// AddrPort is Addr:Port.
func (m Member) AddrPort() netip.AddrPort { return netip.AddrPortFrom(m.Addr, m.Port) }

// EventType says what happened to a member.
type EventType uint8

// Membership events.
const (
	// EventJoin: a member not known, failed or left before is alive.
	EventJoin EventType = iota
	// EventUpdate: an alive member's metadata or address changed.
	EventUpdate
	// EventSuspect: this agent's probe suspects the member.
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
	Member Member
}

// memberTable is the agent's view of membership. memberlist forgets dead
// nodes after GossipToTheDeadTime and does not expose suspicion, so the
// agent keeps its own table: it remembers failed and left members until
// they are reaped (and re-contacts the failed ones), and it learns of
// suspicion from memberlist's log line (see suspectFromLog).
type memberTable struct {
	now     func() time.Time
	onEvent func(Event)

	mu sync.Mutex
	// members by name; guarded by mu.
	members map[string]*Member
	// version counts changes, so a catalog rebuild can tell it is stale.
	version atomic.Uint64
}

func newMemberTable(now func() time.Time, onEvent func(Event)) *memberTable {
	return &memberTable{now: now, onEvent: onEvent, members: map[string]*Member{}}
}

// fromNode copies what the table needs out of a memberlist node. It is
// called from memberlist's event callbacks, which run under memberlist's
// node lock, so reading the node here is race-free.
func fromNode(n *memberlist.Node) Member {
	addr, _ := netip.AddrFromSlice(n.Addr)
	meta, _ := decodeMeta(n.Meta) // bad meta from a peer: shown as none
	return Member{Name: n.Name, Addr: addr.Unmap(), Port: n.Port, Meta: meta, Protocol: n.PCur}
}

// set records member m with the status status(prev) returns and emits an
// event of type typ. Events are emitted under t.mu, so subscribers see
// them in the order the table changed (onEvent never blocks).
func (t *memberTable) set(m Member, typ EventType, status func(prev *Member) Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
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

func always(st Status) func(*Member) Status { return func(*Member) Status { return st } }

// join is memberlist's NotifyJoin.
func (t *memberTable) join(m Member) { t.set(m, EventJoin, always(StatusAlive)) }

// update is memberlist's NotifyUpdate: new metadata, same liveness.
func (t *memberTable) update(m Member) {
	t.set(m, EventUpdate, func(prev *Member) Status {
		if prev != nil && prev.Status == StatusSuspect {
			return StatusSuspect
		}
		return StatusAlive
	})
}

// leave is memberlist's NotifyLeave: left when the node announced it,
// else failed.
func (t *memberTable) leave(m Member, left bool) {
	if left {
		t.set(m, EventLeft, always(StatusLeft))
	} else {
		t.set(m, EventFailed, always(StatusFailed))
	}
}

// markLeft turns a member already seen failed into left (its leave intent
// arrived after memberlist declared it dead).
func (t *memberTable) markLeft(name string) {
	t.transition(name, StatusFailed, StatusLeft, EventLeft)
}

// suspect marks an alive member suspect.
func (t *memberTable) suspect(name string) {
	t.transition(name, StatusAlive, StatusSuspect, EventSuspect)
}

// alive clears suspicion of a member that answered.
func (t *memberTable) alive(name string) {
	t.transition(name, StatusSuspect, StatusAlive, EventAlive)
}

func (t *memberTable) transition(name string, from, to Status, typ EventType) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.members[name]
	if m == nil || m.Status != from {
		return
	}
	m.Status = to
	m.Since = t.now()
	t.version.Add(1)
	t.onEvent(Event{Type: typ, Member: *m})
}

// reap forgets failed and left members whose status is older than after.
func (t *memberTable) reap(after time.Duration) []Member {
	now := t.now()
	var gone []Member
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, m := range t.members {
		if (m.Status == StatusFailed || m.Status == StatusLeft) && now.Sub(m.Since) >= after {
			gone = append(gone, *m)
			delete(t.members, name)
			t.version.Add(1)
			t.onEvent(Event{Type: EventReap, Member: *m})
		}
	}
	return gone
}

// get returns a copy of the named member.
func (t *memberTable) get(name string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.members[name]
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// list returns copies of all members sorted by name.
func (t *memberTable) list() []Member {
	t.mu.Lock()
	out := make([]Member, 0, len(t.members))
	for _, m := range t.members {
		out = append(out, *m)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// withStatus returns the members in any of the given states.
func (t *memberTable) withStatus(sts ...Status) []Member {
	var out []Member
	for _, m := range t.list() {
		if slices.Contains(sts, m.Status) {
			out = append(out, m)
		}
	}
	return out
}
