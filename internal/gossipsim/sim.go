package gossipsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Result summarises the trials of one mode.
type Result struct {
	Mode   Mode
	Params Params
	// Live is the number of live nodes; fractions are of Live.
	Live int
	// Mean[r] is the mean fraction of live nodes informed after round r
	// (hop r for Forward). Mean[0] = 1/Live: only the origin. A trial that
	// stopped early keeps its final fraction for later rounds. The slice
	// ends at the last round any trial ran.
	Mean []float64
	// To99 and ToAll are the rounds until ≥ 99 % and 100 % of live nodes
	// were informed, over the trials that got there.
	To99, ToAll Stats
	// End is the round in which each trial informed its last node, over all
	// trials: when the spread was over, whether or not it reached everyone.
	End Stats
	// Residue is the mean fraction of live nodes still uninformed when a
	// trial ended (the update died out, or Rounds ran out).
	Residue float64
	// Incomplete is the number of trials that ended with a live node
	// uninformed.
	Incomplete int
	// Capped is the number of those that Rounds cut off while the update
	// was still spreading: their residue is not final.
	Capped int
	// Sends is the mean number of update transmissions per trial: every
	// send for Push and Forward (sends are blind; with a retransmit limit
	// Push counts the sends its queues still make after everyone has the
	// update, without one it stops counting there), and for Pull and PushPull
	// every payload sent to a live peer that lacked the update (an exchange
	// ships only differences). Lost messages count.
	Sends float64
	// Rounds is the cap each trial ran under (Params.Rounds()).
	Rounds int
}

// Stats are rounds-to-threshold statistics over the trials that reached
// the threshold.
type Stats struct {
	Trials        int // trials that reached the threshold
	Mean          float64
	P50, P90, P99 int // nearest-rank percentiles
	Max           int
}

func newStats(v []int) Stats {
	if len(v) == 0 {
		return Stats{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	sum := 0
	for _, x := range s {
		sum += x
	}
	return Stats{
		Trials: len(s),
		Mean:   float64(sum) / float64(len(s)),
		P50:    percentile(s, 0.50),
		P90:    percentile(s, 0.90),
		P99:    percentile(s, 0.99),
		Max:    s[len(s)-1],
	}
}

// percentile is the nearest-rank percentile of sorted, non-empty s.
func percentile(s []int, q float64) int {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Simulate runs p.Trials independent trials of mode m with randomness from
// src and aggregates them. It is deterministic for a given src state.
func Simulate(p Params, m Mode, src rand.Source) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if m < Push || m > Forward {
		return nil, fmt.Errorf("%w: mode %d", ErrInvalid, int(m))
	}
	if src == nil {
		return nil, fmt.Errorf("%w: nil random source", ErrInvalid)
	}
	s := newSim(p, m, rand.New(src))
	var (
		sum, tail    []float64
		to99, toAll  []int
		ends         []int
		residue      float64
		incomplete   int
		capped       int
		sends        int64
		live         = float64(s.live)
		need99       = int(math.Ceil(0.99*live - 1e-9))
		trialsF      = float64(p.Trials)
		curveMaxRows = 0
	)
	for range p.Trials {
		curve := s.trial()
		sends += s.sends
		if len(curve) > len(sum) {
			sum = append(sum, make([]float64, len(curve)-len(sum))...)
		}
		for r, c := range curve {
			sum[r] += float64(c) / live
		}
		last := int(curve[len(curve)-1])
		for len(tail) <= len(curve) {
			tail = append(tail, 0)
		}
		tail[len(curve)] += float64(last) / live
		curveMaxRows = max(curveMaxRows, len(curve))
		ends = append(ends, lastChange(curve))
		if r := firstAtLeast(curve, need99); r >= 0 {
			to99 = append(to99, r)
		}
		if last == s.live {
			toAll = append(toAll, len(curve)-1)
		} else {
			incomplete++
			residue += float64(s.live-last) / live
			if s.spreading() {
				capped++
			}
		}
	}
	mean := make([]float64, curveMaxRows)
	carried := 0.0
	for r := range mean {
		carried += tail[r]
		mean[r] = (sum[r] + carried) / trialsF
	}
	return &Result{
		Mode:       m,
		Params:     p,
		Live:       s.live,
		Mean:       mean,
		To99:       newStats(to99),
		ToAll:      newStats(toAll),
		End:        newStats(ends),
		Residue:    residue / trialsF,
		Incomplete: incomplete,
		Capped:     capped,
		Sends:      float64(sends) / trialsF,
		Rounds:     p.Rounds(),
	}, nil
}

func lastChange(curve []int32) int {
	for r := len(curve) - 1; r > 0; r-- {
		if curve[r] != curve[r-1] {
			return r
		}
	}
	return 0
}

func firstAtLeast(curve []int32, need int) int {
	for r, c := range curve {
		if int(c) >= need {
			return r
		}
	}
	return -1
}

// sim is the state of one trial, reused across trials to avoid garbage.
// Node 0 is the origin; nodes are exchangeable, so that loses nothing.
type sim struct {
	p      Params
	mode   Mode
	rng    *rand.Rand
	n      int
	live   int
	limit  int // sends per node in Push, -1 = unlimited
	rounds int
	aeK    int // anti-entropy period in rounds, 0 = off

	failed    []bool
	informed  []bool
	at        []int32 // round in which a node was informed
	left      []int32 // Push: sends left
	pos       []int32 // position of a node's tick within a round (Staggered)
	perm      []int32 // sampling scratch: always a permutation of 0..n-1
	targets   []int32
	order     []int32 // live nodes in tick order
	active    []int32
	next      []int32
	heap      []int32
	ae        [][]int32 // anti-entropy buckets by phase
	curve     []int32
	count     int32 // live nodes informed
	sends     int64
	staggered bool
}

func newSim(p Params, m Mode, rng *rand.Rand) *sim {
	n := p.N
	s := &sim{
		p:         p,
		mode:      m,
		rng:       rng,
		n:         n,
		live:      p.Live(),
		limit:     p.Limit(),
		rounds:    p.Rounds(),
		failed:    make([]bool, n),
		informed:  make([]bool, n),
		at:        make([]int32, n),
		left:      make([]int32, n),
		pos:       make([]int32, n),
		perm:      make([]int32, n),
		staggered: p.Timers == Staggered && m.Ticked(),
	}
	if m != Push {
		s.limit = -1
	}
	for i := range s.perm {
		s.perm[i] = int32(i)
	}
	if m == Push && p.AntiEntropy > 0 {
		s.aeK = p.antiEntropyRounds()
		s.ae = make([][]int32, s.aeK)
	}
	return s
}

// lost reports whether one message is lost.
func (s *sim) lost() bool {
	return s.p.Loss > 0 && s.rng.Float64() < s.p.Loss
}

// sample returns k distinct uniformly random nodes other than self (all of
// them when k >= n-1), as memberlist's kRandomNodes does. The result is
// valid until the next call.
func (s *sim) sample(self int32, k int) []int32 {
	out := s.targets[:0]
	n := len(s.perm)
	if k >= n-1 {
		for i := range int32(n) {
			if i != self {
				out = append(out, i)
			}
		}
		s.targets = out
		return out
	}
	// Partial Fisher-Yates over whatever order perm is in: each draw is
	// uniform over the positions not yet drawn, so self costs at most one
	// extra draw and no rejection loop is needed.
	for i := 0; len(out) < k; i++ {
		j := i + s.rng.IntN(n-i)
		s.perm[i], s.perm[j] = s.perm[j], s.perm[i]
		if s.perm[i] != self {
			out = append(out, s.perm[i])
		}
	}
	s.targets = out
	return out
}

// inform marks live node x informed in round r; it reports false if x was
// failed or already informed.
func (s *sim) inform(x int32, r int) bool {
	if s.failed[x] || s.informed[x] {
		return false
	}
	s.informed[x] = true
	s.at[x] = int32(r)
	s.left[x] = int32(s.limit)
	s.count++
	return true
}

// known reports whether x can pass the update on in round r: in lockstep
// only what it knew when the round began counts.
func (s *sim) known(x int32, r int) bool {
	return s.informed[x] && (s.staggered || int(s.at[x]) < r)
}

// reset prepares a fresh trial: picks the failed nodes and tick phases.
func (s *sim) reset() {
	clear(s.failed)
	clear(s.informed)
	s.count, s.sends = 0, 0
	s.curve = s.curve[:0]
	// Failed nodes: a uniform subset of nodes 1..n-1.
	nf := s.n - s.live
	for i := range s.perm {
		s.perm[i] = int32(i)
	}
	for i := 1; i <= nf; i++ {
		j := i + s.rng.IntN(s.n-i)
		s.perm[i], s.perm[j] = s.perm[j], s.perm[i]
		s.failed[s.perm[i]] = true
	}
	// Tick order: with staggered timers a random permutation of the live
	// nodes (uniform phases); in lockstep the order does not matter.
	s.order = s.order[:0]
	for i := range int32(s.n) {
		if !s.failed[i] {
			s.order = append(s.order, i)
		}
	}
	if s.staggered {
		s.rng.Shuffle(len(s.order), func(i, j int) {
			s.order[i], s.order[j] = s.order[j], s.order[i]
		})
		for i, x := range s.order {
			s.pos[x] = int32(i)
		}
	}
	for k := range s.ae {
		s.ae[k] = s.ae[k][:0]
	}
	if s.aeK > 0 {
		for _, x := range s.order {
			k := s.rng.IntN(s.aeK)
			s.ae[k] = append(s.ae[k], x)
		}
	}
	s.inform(0, 0)
	s.curve = append(s.curve, s.count)
}

// trial runs one trial and returns the informed count after each round;
// the slice is reused by the next trial.
func (s *sim) trial() []int32 {
	s.reset()
	if int(s.count) == s.live {
		return s.curve
	}
	switch s.mode {
	case Push:
		s.push()
	case Pull, PushPull:
		s.exchange()
	case Forward:
		s.forward()
	}
	return s.curve
}

// spreading reports whether the trial could still inform someone: true at
// the end of a trial only when the round cap stopped it.
func (s *sim) spreading() bool {
	switch {
	case int(s.count) == s.live:
		return false
	case s.mode == Pull || s.mode == PushPull:
		return true
	}
	return len(s.active) > 0 || s.aeK > 0
}

// push is memberlist's gossip(): every tick each node with the update queued
// picks up to Fanout random nodes and sends the update to each while its
// transmit count lasts (GetBroadcasts returns nothing once it is spent, and
// gossip() stops there).
func (s *sim) push() {
	s.active = append(s.active[:0], 0)
	for r := 1; r <= s.rounds; r++ {
		s.antiEntropy(r)
		if s.staggered {
			s.pushStaggered(r)
		} else {
			s.pushLockstep(r)
		}
		s.curve = append(s.curve, s.count)
		if int(s.count) == s.live || (len(s.active) == 0 && s.aeK == 0) {
			break
		}
	}
	// memberlist keeps sending until each queued copy reaches its limit,
	// informed or not: count those sends too.
	if s.limit >= 0 {
		for _, a := range s.active {
			s.sends += int64(s.left[a])
		}
	}
}

// sendBatch makes node a send its share for one tick, calling onNew for
// each node it informs, and reports whether a keeps sending next tick.
func (s *sim) sendBatch(a int32, r int, onNew func(int32)) bool {
	k := s.p.Fanout
	if s.limit >= 0 {
		k = min(k, int(s.left[a]))
	}
	targets := s.sample(a, k) // fewer than k when n-1 < k
	for _, t := range targets {
		s.sends++
		if s.lost() {
			continue
		}
		if s.inform(t, r) {
			onNew(t)
		}
	}
	if s.limit < 0 {
		return true
	}
	s.left[a] -= int32(len(targets))
	return s.left[a] > 0
}

func (s *sim) pushLockstep(r int) {
	next := s.next[:0]
	var fresh []int32 // informed this round: they send from round r+1
	for _, a := range s.active {
		if s.sendBatch(a, r, func(t int32) { fresh = append(fresh, t) }) {
			next = append(next, a)
		}
	}
	next = append(next, fresh...)
	s.active, s.next = next, s.active
}

// pushStaggered visits senders in tick order; a node informed by an earlier
// tick of this round sends in this round when its own tick comes later.
func (s *sim) pushStaggered(r int) {
	next := s.next[:0]
	s.heap = s.heap[:0]
	for _, a := range s.active {
		s.heapPush(a)
	}
	for len(s.heap) > 0 {
		a := s.heapPop()
		keep := s.sendBatch(a, r, func(t int32) {
			if s.pos[t] > s.pos[a] {
				s.heapPush(t)
			} else {
				next = append(next, t)
			}
		})
		if keep {
			next = append(next, a)
		}
	}
	s.active, s.next = next, s.active
}

// antiEntropy runs the push/pull exchanges due at the start of round r:
// over TCP, so no packet loss, but a failed peer answers nothing. A node
// that learns the update this way accepts it and queues it for push.
func (s *sim) antiEntropy(r int) {
	if s.aeK == 0 {
		return
	}
	for _, x := range s.ae[r%s.aeK] {
		y := s.sample(x, 1)[0]
		if s.failed[y] || s.informed[x] == s.informed[y] {
			continue
		}
		s.sends++
		if s.informed[x] {
			x = y
		}
		s.inform(x, r-1) // known from this round on, in lockstep too
		s.active = append(s.active, x)
	}
}

// exchange runs Pull and PushPull: every live node initiates Fanout
// contacts per round. A contact carries a request (lost with Loss, or
// unanswered by a failed peer) and, in pull, a reply that may be lost too.
func (s *sim) exchange() {
	for r := 1; r <= s.rounds; r++ {
		for _, a := range s.order {
			aInf := s.known(a, r)
			if aInf && s.mode == Pull {
				continue // pulling what it already has changes nothing
			}
			for _, b := range s.sample(a, s.p.Fanout) {
				if s.failed[b] {
					continue
				}
				reqLost := s.lost()
				if aInf { // push half of push-pull
					if !s.informed[b] {
						s.sends++
						if !reqLost {
							s.inform(b, r)
						}
					}
					continue
				}
				if reqLost || !s.known(b, r) {
					continue
				}
				s.sends++
				if !s.lost() {
					s.inform(a, r)
				}
			}
		}
		s.curve = append(s.curve, s.count)
		if int(s.count) == s.live {
			return
		}
	}
}

// forward is infect-and-die: a node sends a newly accepted update to Fanout
// random peers once, immediately. Step r is the r-th network hop.
func (s *sim) forward() {
	s.active = append(s.active[:0], 0)
	for r := 1; r <= s.rounds && len(s.active) > 0; r++ {
		next := s.next[:0]
		for _, a := range s.active {
			for _, t := range s.sample(a, s.p.Fanout) {
				s.sends++
				if !s.lost() && s.inform(t, r) {
					next = append(next, t)
				}
			}
		}
		s.active, s.next = next, s.active
		s.curve = append(s.curve, s.count)
		if int(s.count) == s.live {
			return
		}
	}
}

// heapPush and heapPop keep s.heap a binary min-heap by tick position.
func (s *sim) heapPush(x int32) {
	h := append(s.heap, x)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s.pos[h[p]] <= s.pos[h[i]] {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	s.heap = h
}

func (s *sim) heapPop() int32 {
	h := s.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(h) && s.pos[h[l]] < s.pos[h[m]] {
			m = l
		}
		if l+1 < len(h) && s.pos[h[l+1]] < s.pos[h[m]] {
			m = l + 1
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
	return top
}
