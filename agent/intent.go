package agent

import (
	"sync"
	"time"
)

// Leave intents. memberlist's Node.State is never set (nodeState.State
// shadows it), so NotifyLeave cannot tell a graceful leave from a failure.
// Like Serf, a leaving agent first gossips a leave intent of its own; a
// member that goes away after its intent was heard is "left", otherwise
// "failed". An intent heard after the failure turns failed into left.

const (
	msgAgent MsgType = 2 // the agent's own messages
	// agent message kinds (second byte)
	agentLeaveIntent = 'L'
	// intentTTL bounds how long an unmatched intent is remembered.
	intentTTL = time.Minute
)

type intents struct {
	mu sync.Mutex
	// seen maps node name to when its leave intent arrived; guarded by mu.
	seen map[string]time.Time
}

// add records an intent; it reports whether it is new (to be relayed).
func (in *intents) add(node string, now time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.seen == nil {
		in.seen = map[string]time.Time{}
	}
	for n, at := range in.seen {
		if now.Sub(at) > intentTTL {
			delete(in.seen, n)
		}
	}
	if _, ok := in.seen[node]; ok {
		return false
	}
	in.seen[node] = now
	return true
}

func (in *intents) has(node string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	_, ok := in.seen[node]
	return ok
}

func (in *intents) clear(node string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.seen, node)
}

// handleAgentMsg handles msgAgent messages. Runs on the packet loop.
func (a *Agent) handleAgentMsg(p []byte) {
	if len(p) < 2 || p[0] != agentLeaveIntent {
		return
	}
	node := string(p[1:])
	if len(node) > maxNodeNameBytes || node == a.cfg.NodeName {
		return
	}
	if a.intents.add(node, a.clk.Now()) {
		a.members.markLeft(node)
		a.Broadcast(msgAgent, "leave/"+node, p, false)
	}
}

// announceLeave gossips this node's leave intent and sends it straight to
// every live member, so it arrives before memberlist's own leave message.
func (a *Agent) announceLeave() {
	p := append([]byte{agentLeaveIntent}, a.cfg.NodeName...)
	a.Broadcast(msgAgent, "leave/"+a.cfg.NodeName, p, true)
	for _, m := range a.members.withStatus(StatusAlive, StatusSuspect) {
		if m.Name != a.cfg.NodeName {
			_ = a.SendBestEffort(m.Name, msgAgent, p)
		}
	}
}
