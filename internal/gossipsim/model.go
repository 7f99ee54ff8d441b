package gossipsim

import "math"

// The closed forms the simulation is checked against. docs/gossip-math.md
// derives each one.

// Simple is the issue #6 model P(t) = 1 − (1 − 1/n)^t. It is the chance that
// one given node has been chosen at least once by a single sender that picks
// one of n nodes uniformly per round for t rounds. It is not epidemic
// spread: nobody but the sender ever sends.
func Simple(n, t int) float64 {
	if n < 1 || t < 0 {
		return math.NaN()
	}
	return 1 - math.Pow(1-1/float64(n), float64(t))
}

// FanoutModel is the same single-sender model with f distinct targets per
// round: 1 − (1 − f/n)^t (1 once f ≥ n and t ≥ 1).
func FanoutModel(n, f, t int) float64 {
	if n < 1 || f < 0 || t < 0 {
		return math.NaN()
	}
	if t > 0 && f >= n {
		return 1
	}
	return 1 - math.Pow(1-float64(f)/float64(n), float64(t))
}

// SIStep is one round of the deterministic push epidemic in the large-n
// limit: i' = 1 − (1 − i)·e^{−f·i}. Each of the n·i informed nodes sends f
// messages to uniform targets, so a given uninformed node escapes all of
// them with probability (1 − 1/n)^{f·n·i} → e^{−f·i}.
func SIStep(i, f float64) float64 {
	return 1 - (1-i)*math.Exp(-f*i)
}

// SI iterates SIStep from i0 and returns i_0 … i_rounds.
func SI(i0, f float64, rounds int) []float64 {
	if rounds < 0 {
		return nil
	}
	out := make([]float64, rounds+1)
	out[0] = i0
	for t := 1; t <= rounds; t++ {
		out[t] = SIStep(out[t-1], f)
	}
	return out
}

// MeanField is the expected-value recurrence of mode m under p in lockstep
// with n finite: the fraction of live nodes informed after rounds 0 …
// rounds. It includes loss, failed nodes, distinct targets per tick and, for
// Push, the retransmit limit; it ignores Timers and AntiEntropy. It treats
// the informed count as its mean, so it is sharpest when n is large.
func MeanField(p Params, m Mode, rounds int) []float64 {
	if p.Validate() != nil || rounds < 0 {
		return nil
	}
	live := float64(p.Live())
	others := float64(p.N - 1)
	out := make([]float64, rounds+1)
	out[0] = 1 / live
	if p.N == 1 || p.Live() == 1 {
		for t := range out {
			out[t] = 1
		}
		return out
	}
	q := 1 - p.Loss
	k := float64(min(p.Fanout, p.N-1))
	limit := p.Limit()
	if m != Push {
		limit = -1
	}
	// batch(a) is what a node sends in the a-th round after it was
	// informed (a >= 1).
	batch := func(a int) float64 {
		if limit < 0 {
			return k
		}
		return max(0, min(k, float64(limit)-k*float64(a-1)))
	}
	informed := 1.0
	fresh := make([]float64, rounds+1) // newly informed per round
	fresh[0] = 1
	for t := 1; t <= rounds; t++ {
		unin := live - informed
		escape := 1.0 // chance a given uninformed live node stays so
		switch m {
		case Push:
			for a := 1; a <= t; a++ {
				w := batch(a)
				if w == 0 {
					break // a limited node has spent its sends
				}
				escape *= math.Pow(1-w*q/others, fresh[t-a])
			}
		case Pull:
			escape = math.Pow(1-informed*q*q/others, k)
		case PushPull:
			escape = math.Pow(1-informed*q*q/others, k) * math.Pow(1-k*q/others, informed)
		case Forward:
			escape = math.Pow(1-k*q/others, fresh[t-1])
		}
		fresh[t] = unin * (1 - escape)
		informed += fresh[t]
		out[t] = informed / live
	}
	return out
}

// FirstRound is the first index at which curve reaches target, or -1.
func FirstRound(curve []float64, target float64) int {
	for t, v := range curve {
		if v >= target {
			return t
		}
	}
	return -1
}

// AllTarget is the fraction a mean-field curve must reach to call all live
// nodes informed: fewer than half a node expected uninformed.
func AllTarget(live int) float64 {
	return 1 - 0.5/float64(live)
}

// Pittel is log2 n + ln n, the rounds push with fanout 1 and no limit needs
// to inform all n nodes, up to O(1) (Pittel 1987, "On spreading a rumor").
func Pittel(n int) float64 {
	x := float64(n)
	return math.Log2(x) + math.Log(x)
}

// Karp is log3 n + ln ln n, the rounds push-pull with one call per node and
// round needs, up to the constant in O(ln ln n) (Karp, Schindelhauer,
// Shenker, Vöcking 2000, "Randomized rumor spreading"). NaN for n < 3.
func Karp(n int) float64 {
	if n < 3 {
		return math.NaN()
	}
	x := float64(n)
	return math.Log(x)/math.Log(3) + math.Log(math.Log(x))
}

// Residue is the fraction of nodes an infect-and-die process never
// reaches when each informed node makes k effective sends (delivered to a
// live node) to uniform targets: the root s in [0, 1) of s = e^{−k(1−s)}
// for k > 1, and 1 for k <= 1 (the process is subcritical and reaches a
// vanishing fraction). For Forward k = Fanout·(1−Loss)·(1−Failed); for Push
// with a limit L, k = L·(1−Loss)·(1−Failed).
func Residue(k float64) float64 {
	if !(k > 1) {
		return 1
	}
	// Newton on g(s) = s − e^{−k(1−s)} from s = 0: g is concave and
	// increasing there with g(0) < 0, so each tangent crosses zero below
	// the root and the iterates rise monotonically to it.
	s := 0.0
	for range 100 {
		e := math.Exp(-k * (1 - s))
		g := s - e
		d := 1 - k*e
		if d <= 0 {
			break
		}
		ns := s - g/d
		if math.Abs(ns-s) < 1e-15 {
			return ns
		}
		s = ns
	}
	return s
}

// FanoutModelRounds inverts FanoutModel: the rounds t, as a real number,
// at which 1 − (1 − f/n)^t reaches target in (0, 1). 1 when f ≥ n, NaN for
// bad arguments.
func FanoutModelRounds(n, f int, target float64) float64 {
	if n < 1 || f < 1 || !(target > 0 && target < 1) {
		return math.NaN()
	}
	if f >= n {
		return 1
	}
	return math.Log(1-target) / math.Log(1-float64(f)/float64(n))
}
