package memnet

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// MaxDelay bounds SetDelay and SetDelayAll.
const MaxDelay = 10 * time.Second

// pair is an unordered pair of node names, a <= b.
type pair struct{ a, b string }

func mkpair(a, b string) pair {
	if b < a {
		a, b = b, a
	}
	return pair{a, b}
}

// faults is the fault configuration, keyed by node name so that it follows
// a node across restarts. Guarded by Network.mu.
type faults struct {
	partitioned bool
	group       map[string]int // name → 1-based group; absent: group 0, "the rest"
	blocked     map[pair]bool
	isolated    map[string]bool
	loss        map[Link]float64
	lossAll     float64
	delay       map[Link]time.Duration
	delayAll    time.Duration
	dup         float64
}

func newFaults() faults {
	return faults{
		blocked:  make(map[pair]bool),
		isolated: make(map[string]bool),
		loss:     make(map[Link]float64),
		delay:    make(map[Link]time.Duration),
	}
}

// cut reports whether nothing can flow between a and b. A node always
// reaches itself.
func (f *faults) cut(a, b string) bool {
	switch {
	case a == b:
		return false
	case f.isolated[a] || f.isolated[b]:
		return true
	case f.blocked[mkpair(a, b)]:
		return true
	case f.partitioned:
		return f.group[a] != f.group[b]
	}
	return false
}

// lossFor combines the link's and the global loss as independent events.
func (f *faults) lossFor(from, to string) float64 {
	return 1 - (1-f.loss[Link{from, to}])*(1-f.lossAll)
}

func (f *faults) delayFor(from, to string) time.Duration {
	return f.delay[Link{from, to}] + f.delayAll
}

// Partition splits the network: nodes in different groups can neither
// exchange packets nor open streams, and open streams between them are
// closed. Nodes named in no group (including nodes created later) together
// form one more group, so Partition([]string{"a"}) cuts a off from everyone
// else. A new Partition replaces the previous one; Partition() with no
// groups ends it. Blocks and isolations stay in force. A name in two groups
// or an empty name is an error and changes nothing.
func (n *Network) Partition(groups ...[]string) error {
	n.lazy()
	g := make(map[string]int)
	for i, names := range groups {
		for _, name := range names {
			if name == "" {
				return fmt.Errorf("memnet: partition group %d: empty node name", i)
			}
			if j, dup := g[name]; dup {
				return fmt.Errorf("memnet: partition: node %q in groups %d and %d", name, j-1, i)
			}
			g[name] = i + 1
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults.partitioned = len(groups) > 0
	n.faults.group = g
	n.cutStreamsLocked()
	return nil
}

// Heal ends the partition and removes every block and isolation. Loss,
// delay and duplication settings are kept; set them to zero to clear them.
func (n *Network) Heal() {
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults.partitioned = false
	n.faults.group = nil
	clear(n.faults.blocked)
	clear(n.faults.isolated)
}

// Block cuts the link between a and b in both directions and closes the
// streams between them.
func (n *Network) Block(a, b string) error {
	if err := checkLink("block", a, b); err != nil {
		return err
	}
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults.blocked[mkpair(a, b)] = true
	n.cutStreamsLocked()
	return nil
}

// Unblock undoes Block(a, b). Other faults between a and b stay.
func (n *Network) Unblock(a, b string) error {
	if err := checkLink("unblock", a, b); err != nil {
		return err
	}
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.faults.blocked, mkpair(a, b))
	return nil
}

// Isolate cuts every link of node name (as if its cable were pulled) and
// closes its streams. Unlike Shutdown, the node keeps running.
func (n *Network) Isolate(name string) error {
	if name == "" {
		return errors.New("memnet: isolate: empty node name")
	}
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults.isolated[name] = true
	n.cutStreamsLocked()
	return nil
}

// Unisolate undoes Isolate(name).
func (n *Network) Unisolate(name string) error {
	if name == "" {
		return errors.New("memnet: unisolate: empty node name")
	}
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.faults.isolated, name)
	return nil
}

// Connected reports whether a and b can currently exchange traffic, that
// is no partition, block or isolation separates them (loss aside).
func (n *Network) Connected(a, b string) bool {
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.faults.cut(a, b)
}

// SetLoss makes packets from→to (one direction) drop with probability p in
// [0, 1]. It combines with SetLossAll as independent events. Streams are not
// affected: they model TCP, which retransmits; use Block for a dead link.
func (n *Network) SetLoss(from, to string, p float64) error {
	if err := checkLink("loss", from, to); err != nil {
		return err
	}
	if err := checkProb("loss", p); err != nil {
		return err
	}
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	if p == 0 {
		delete(n.faults.loss, Link{from, to})
	} else {
		n.faults.loss[Link{from, to}] = p
	}
	return nil
}

// SetLossAll makes every packet drop with probability p in [0, 1], on top
// of per-link loss.
func (n *Network) SetLossAll(p float64) error {
	if err := checkProb("loss", p); err != nil {
		return err
	}
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults.lossAll = p
	return nil
}

// SetDuplicate makes every delivered packet arrive twice with probability p
// in [0, 1].
func (n *Network) SetDuplicate(p float64) error {
	if err := checkProb("duplicate", p); err != nil {
		return err
	}
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults.dup = p
	return nil
}

// SetDelay delays packets from→to (one direction) by d in [0, MaxDelay], on
// top of SetDelayAll. A delayed packet is dropped if, when it is due, its
// link is cut or its receiver is shut down. Streams are not delayed.
func (n *Network) SetDelay(from, to string, d time.Duration) error {
	if err := checkLink("delay", from, to); err != nil {
		return err
	}
	if err := checkDelay(d); err != nil {
		return err
	}
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	if d == 0 {
		delete(n.faults.delay, Link{from, to})
	} else {
		n.faults.delay[Link{from, to}] = d
	}
	return nil
}

// SetDelayAll delays every packet by d in [0, MaxDelay].
func (n *Network) SetDelayAll(d time.Duration) error {
	if err := checkDelay(d); err != nil {
		return err
	}
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults.delayAll = d
	return nil
}

func checkLink(op, a, b string) error {
	if a == "" || b == "" {
		return fmt.Errorf("memnet: %s: empty node name (%q, %q)", op, a, b)
	}
	if a == b {
		return fmt.Errorf("memnet: %s: link from %q to itself", op, a)
	}
	return nil
}

func checkProb(op string, p float64) error {
	if math.IsNaN(p) || p < 0 || p > 1 {
		return fmt.Errorf("memnet: %s probability %v not in [0, 1]", op, p)
	}
	return nil
}

func checkDelay(d time.Duration) error {
	if d < 0 || d > MaxDelay {
		return fmt.Errorf("memnet: delay %v not in [0, %v]", d, MaxDelay)
	}
	return nil
}
