package memnet

import (
	"bytes"
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// noReason marks a drop counted only in PacketsDropped (dead destination).
const noReason counter = -1

// delayed is a packet waiting for its delivery timer.
type delayed struct {
	from *Transport
	buf  []byte
	stop func() bool
}

// send routes one packet from t. Everything happens under n.mu, including
// the non-blocking inbox send, so a fault change or Shutdown is seen
// atomically by every packet.
func (n *Network) send(t *Transport, b []byte, addr string) error {
	_, _, key, err := parseAddr(addr)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if t.down {
		return fmt.Errorf("memnet: write to %s: %w", addr, ErrShutdown)
	}
	size := uint64(len(b))
	t.stats.add(cPacketsSent, 1)
	t.stats.add(cBytesSent, size)
	dest := n.byAddr[key]
	if dest == nil || dest.down {
		n.dropLocked(t, nil, len(b), noReason)
		return nil
	}
	link := n.linkLocked(t.name, dest.name)
	link.add(cPacketsSent, 1)
	link.add(cBytesSent, size)

	f := &n.faults
	if f.cut(t.name, dest.name) {
		n.dropLocked(t, dest, len(b), cPacketsCut)
		return nil
	}
	if p := f.lossFor(t.name, dest.name); p > 0 && n.rng.Float64() < p {
		n.dropLocked(t, dest, len(b), cPacketsLost)
		return nil
	}
	copies := 1
	if f.dup > 0 && n.rng.Float64() < f.dup {
		copies = 2
		t.stats.add(cPacketsDuplicated, 1)
		link.add(cPacketsDuplicated, 1)
	}
	delay := f.delayFor(t.name, dest.name)
	for range copies {
		buf := bytes.Clone(b)
		if delay > 0 {
			n.scheduleLocked(t, dest, buf, delay)
		} else {
			n.deliverLocked(t, dest, buf)
		}
	}
	return nil
}

// deliverLocked puts buf into dest's inbox or drops it if the inbox is full.
// Caller holds n.mu.
func (n *Network) deliverLocked(from, dest *Transport, buf []byte) {
	p := &memberlist.Packet{Buf: buf, From: from.udpAddr, Timestamp: time.Now()}
	select {
	case dest.packetCh <- p:
		size := uint64(len(buf))
		dest.stats.add(cPacketsReceived, 1)
		dest.stats.add(cBytesReceived, size)
		link := n.linkLocked(from.name, dest.name)
		link.add(cPacketsReceived, 1)
		link.add(cBytesReceived, size)
	default:
		n.dropLocked(from, dest, len(buf), cPacketsOverflowed)
	}
}

// scheduleLocked delivers buf to dest after d, unless too many packets are
// already in flight to dest. Timers run no goroutine while they wait.
// Caller holds n.mu.
func (n *Network) scheduleLocked(from, dest *Transport, buf []byte, d time.Duration) {
	if len(dest.pending) >= cap(dest.packetCh) {
		n.dropLocked(from, dest, len(buf), cPacketsOverflowed)
		return
	}
	p := &delayed{from: from, buf: buf}
	// The callback takes n.mu, which we hold, so it sees p.stop set.
	p.stop = n.afterFunc(d, func() { n.due(dest, p) })
	dest.pending[p] = struct{}{}
}

// due delivers a delayed packet, re-checking the faults: a partition that
// began while the packet was in flight stops it.
func (n *Network) due(dest *Transport, p *delayed) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := dest.pending[p]; !ok {
		return // dest was shut down and already counted the drop
	}
	delete(dest.pending, p)
	if n.faults.cut(p.from.name, dest.name) {
		n.dropLocked(p.from, dest, len(p.buf), cPacketsCut)
		return
	}
	n.deliverLocked(p.from, dest, p.buf)
}

// dropLocked counts a dropped packet on the sender and, when dest is known,
// on the link. Caller holds n.mu.
func (n *Network) dropLocked(from, dest *Transport, size int, reason counter) {
	cs := []*counters{from.stats}
	if dest != nil {
		cs = append(cs, n.linkLocked(from.name, dest.name))
	}
	for _, c := range cs {
		c.add(cPacketsDropped, 1)
		c.add(cBytesDropped, uint64(size))
		if reason != noReason {
			c.add(reason, 1)
		}
	}
}
