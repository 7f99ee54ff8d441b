package gossipsim

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error Validate and ParseMode return.
var ErrInvalid = errors.New("gossipsim: invalid parameter")

// Limits on Params, so a typo cannot ask for hours of work or gigabytes.
const (
	MaxNodes     = 1_000_000
	MaxFanout    = 1_000
	MaxTrials    = 1_000_000
	MaxRoundsCap = 1_000_000
	// MaxWork bounds Trials × N, the dominant cost of a run: about 100 ns
	// per node and trial, so at most tens of seconds per mode.
	MaxWork = 200_000_000
)

// Mode is a dissemination strategy.
type Mode int

// The modes; see the package comment.
const (
	Push Mode = iota
	Pull
	PushPull
	Forward
)

// Modes lists every mode in display order.
var Modes = []Mode{Push, Pull, PushPull, Forward}

// String returns the name ParseMode accepts.
func (m Mode) String() string {
	switch m {
	case Push:
		return "push"
	case Pull:
		return "pull"
	case PushPull:
		return "pushpull"
	case Forward:
		return "forward"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Ticked reports whether the mode advances on gossip ticks (Interval)
// rather than on network hops (HopLatency).
func (m Mode) Ticked() bool { return m != Forward }

// ParseMode parses a mode name; "all" is not a Mode, callers expand it.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: mode %q: want push, pull, pushpull or forward", ErrInvalid, s)
}

// Timers says when nodes tick within a round.
type Timers int

const (
	// Lockstep: every node ticks at the same instant; a node informed in
	// round r first sends in round r+1. The textbook model.
	Lockstep Timers = iota
	// Staggered: each node ticks at its own random phase within the interval,
	// as memberlist's triggerFunc staggers its tickers. A node informed by a
	// peer that ticked earlier in the interval still sends in the same round
	// when its own tick comes later. Network latency is taken as zero.
	Staggered
)

// String returns "lockstep" or "staggered".
func (t Timers) String() string {
	switch t {
	case Lockstep:
		return "lockstep"
	case Staggered:
		return "staggered"
	}
	return fmt.Sprintf("timers(%d)", int(t))
}

// ParseTimers parses "lockstep" or "staggered".
func ParseTimers(s string) (Timers, error) {
	for _, t := range []Timers{Lockstep, Staggered} {
		if strings.EqualFold(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: timers %q: want lockstep or staggered", ErrInvalid, s)
}

// Params describe the cluster and the protocol settings of one simulation.
// The zero value is not valid; start from DefaultParams.
type Params struct {
	// N is the number of nodes, failed ones included (1..MaxNodes).
	// Default 1000.
	N int
	// Fanout is the number of peers contacted per tick (memberlist
	// GossipNodes) or per forward. Default 3, the LAN profile.
	Fanout int
	// Interval is the gossip interval, the length of one round
	// (memberlist GossipInterval). Default 200 ms, the LAN profile.
	Interval time.Duration
	// HopLatency is the time one forwarded message takes (Forward mode's
	// step). Default 1 ms, loopback.
	HopLatency time.Duration
	// Loss is the probability that any one message is lost, in [0, 1).
	// Default 0.
	Loss float64
	// Failed is the fraction of nodes that are failed (silent), in [0, 1).
	// round(Failed×N) nodes other than the origin are failed. Default 0.
	Failed float64
	// RetransmitMult is memberlist's RetransmitMult: in Push mode a node
	// sends the update RetransmitLimit(RetransmitMult, N) times in total.
	// Negative means unlimited (the textbook model). Default 4, LAN.
	RetransmitMult int
	// RetransmitLimit, when > 0, overrides the limit derived from
	// RetransmitMult. Default 0.
	RetransmitLimit int
	// AntiEntropy is memberlist's PushPullInterval before its cluster-size
	// scaling (PushPullScale). When > 0, Push mode also runs memberlist's
	// periodic full-state exchange: every node, at its own random phase,
	// exchanges state with one random peer over TCP (no packet loss).
	// Exchanges are rounded to whole rounds and resolved at the start of a
	// round. 0 (the default) turns it off.
	AntiEntropy time.Duration
	// Timers chooses lockstep or staggered ticks (ticked modes only).
	// Default Lockstep.
	Timers Timers
	// Trials is the number of independent runs. Default 1000.
	Trials int
	// MaxRounds caps each run, in rounds (hops for Forward). 0 means
	// automatic: 200, plus four scaled anti-entropy periods when
	// AntiEntropy is on.
	MaxRounds int
}

// DefaultParams returns memberlist's LAN profile for 1000 nodes, no loss,
// no failures, lockstep timers, 1000 trials.
func DefaultParams() Params {
	return Params{
		N:              1000,
		Fanout:         3,
		Interval:       200 * time.Millisecond,
		HopLatency:     time.Millisecond,
		RetransmitMult: 4,
		Timers:         Lockstep,
		Trials:         1000,
	}
}

// Validate reports the first parameter out of range, naming it.
func (p Params) Validate() error {
	switch {
	case p.N < 1 || p.N > MaxNodes:
		return fmt.Errorf("%w: n = %d: want 1..%d", ErrInvalid, p.N, MaxNodes)
	case p.Fanout < 1 || p.Fanout > MaxFanout:
		return fmt.Errorf("%w: fanout = %d: want 1..%d", ErrInvalid, p.Fanout, MaxFanout)
	case p.Interval <= 0:
		return fmt.Errorf("%w: interval = %v: want > 0", ErrInvalid, p.Interval)
	case p.HopLatency <= 0:
		return fmt.Errorf("%w: hop latency = %v: want > 0", ErrInvalid, p.HopLatency)
	case !(p.Loss >= 0 && p.Loss < 1): // also rejects NaN
		return fmt.Errorf("%w: loss = %v: want 0 <= loss < 1", ErrInvalid, p.Loss)
	case !(p.Failed >= 0 && p.Failed < 1):
		return fmt.Errorf("%w: failed = %v: want 0 <= failed < 1", ErrInvalid, p.Failed)
	case p.RetransmitLimit < 0:
		return fmt.Errorf("%w: retransmit limit = %d: want >= 0 (0 = from retransmit mult)", ErrInvalid, p.RetransmitLimit)
	case p.RetransmitMult > 1000:
		return fmt.Errorf("%w: retransmit mult = %d: want <= 1000 (negative = unlimited)", ErrInvalid, p.RetransmitMult)
	case p.AntiEntropy < 0:
		return fmt.Errorf("%w: anti-entropy interval = %v: want >= 0 (0 = off)", ErrInvalid, p.AntiEntropy)
	case p.Timers != Lockstep && p.Timers != Staggered:
		return fmt.Errorf("%w: timers = %d: want lockstep or staggered", ErrInvalid, int(p.Timers))
	case p.Trials < 1 || p.Trials > MaxTrials:
		return fmt.Errorf("%w: trials = %d: want 1..%d", ErrInvalid, p.Trials, MaxTrials)
	case p.MaxRounds < 0 || p.MaxRounds > MaxRoundsCap:
		return fmt.Errorf("%w: max rounds = %d: want 0 (auto) ..%d", ErrInvalid, p.MaxRounds, MaxRoundsCap)
	case float64(p.Trials)*float64(p.N) > MaxWork:
		return fmt.Errorf("%w: trials × n = %d × %d exceeds %d", ErrInvalid, p.Trials, p.N, int64(MaxWork))
	}
	if p.AntiEntropy > 0 && p.antiEntropyRounds() > MaxRoundsCap {
		return fmt.Errorf("%w: anti-entropy interval = %v is over %d rounds of %v", ErrInvalid, p.AntiEntropy, MaxRoundsCap, p.Interval)
	}
	return nil
}

// Limit is the number of sends per node in Push mode, or -1 for unlimited.
func (p Params) Limit() int {
	if p.RetransmitLimit > 0 {
		return p.RetransmitLimit
	}
	if p.RetransmitMult < 0 {
		return -1
	}
	return max(1, RetransmitLimit(p.RetransmitMult, p.N))
}

// Rounds is the effective round cap (MaxRounds, or the automatic one).
func (p Params) Rounds() int {
	if p.MaxRounds > 0 {
		return p.MaxRounds
	}
	r := 200
	if p.AntiEntropy > 0 {
		r += 4 * p.antiEntropyRounds()
	}
	return min(r, MaxRoundsCap)
}

// Live is the number of live nodes: N minus round(Failed×N), never below 1
// (the origin is always live).
func (p Params) Live() int {
	f := int(math.Round(p.Failed * float64(p.N)))
	return max(1, p.N-f)
}

// Step is the duration of one step of mode m: Interval, or HopLatency for
// Forward.
func (p Params) Step(m Mode) time.Duration {
	if m.Ticked() {
		return p.Interval
	}
	return p.HopLatency
}

// antiEntropyRounds is the scaled anti-entropy period in whole rounds (>= 1).
func (p Params) antiEntropyRounds() int {
	d := PushPullScale(p.AntiEntropy, p.N)
	return max(1, int(math.Round(float64(d)/float64(p.Interval))))
}

// RetransmitLimit is memberlist's retransmitLimit: mult × ceil(log10(n+1)).
// memberlist still sends a broadcast once when this is 0.
func RetransmitLimit(mult, n int) int {
	return mult * int(math.Ceil(math.Log10(float64(n+1))))
}

// PushPullScale is memberlist's pushPullScale: above 32 nodes the push/pull
// interval is multiplied by ceil(log2 n − log2 32) + 1.
func PushPullScale(interval time.Duration, n int) time.Duration {
	const threshold = 32
	if n <= threshold {
		return interval
	}
	m := math.Ceil(math.Log2(float64(n))-math.Log2(threshold)) + 1
	return time.Duration(m) * interval
}
