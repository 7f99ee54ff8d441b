package gossipsim

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestSimpleAndFanoutModel(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"no rounds", Simple(10, 0), 0},
		{"one node", Simple(1, 1), 1},
		{"two nodes one round", Simple(2, 1), 0.5},
		{"n rounds tends to 1-1/e", Simple(1000, 1000), 1 - math.Pow(0.999, 1000)},
		{"fanout 1 is simple", FanoutModel(1000, 1, 7), Simple(1000, 7)},
		{"fanout 3", FanoutModel(10, 3, 2), 1 - 0.7*0.7},
		{"fanout covers all", FanoutModel(5, 5, 1), 1},
	}
	for _, tt := range tests {
		if !near(tt.got, tt.want, 1e-12) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if !math.IsNaN(Simple(0, 1)) || !math.IsNaN(FanoutModel(5, -1, 1)) {
		t.Error("bad arguments should give NaN")
	}
	if !near(Simple(1000, 1000), 1-1/math.E, 0.001) {
		t.Errorf("Simple(1000, 1000) = %v, want about 1-1/e", Simple(1000, 1000))
	}
}

// The simple formula measures one sender choosing targets: check that
// claim directly by simulating exactly that and nothing else.
func TestSimpleModelIsSingleSenderCoverage(t *testing.T) {
	const seed, n, rounds, trials = 11, 100, 150, 400
	rng := rand.New(rand.NewPCG(seed, seed))
	hit := make([]float64, rounds+1)
	chosen := make([]bool, n)
	for range trials {
		clear(chosen)
		count := 0
		for r := 1; r <= rounds; r++ {
			if x := rng.IntN(n); !chosen[x] {
				chosen[x] = true
				count++
			}
			hit[r] += float64(count) / n
		}
	}
	for r := 1; r <= rounds; r++ {
		got := hit[r] / trials
		// Mean of 400 trials of a fraction of 100 nodes: sd < 0.0025.
		if !near(got, Simple(n, r), 0.01) {
			t.Fatalf("seed %d: round %d: single-sender coverage %.4f, Simple %.4f", seed, r, got, Simple(n, r))
		}
	}
	// And it is nothing like epidemic spread: push with fanout 1 informs
	// everyone in about log2 n + ln n rounds, where Simple is still at 10 %.
	if Simple(n, int(Pittel(n))) > 0.15 {
		t.Errorf("Simple(%d, %d) = %v", n, int(Pittel(n)), Simple(n, int(Pittel(n))))
	}
}

func TestFanoutModelRounds(t *testing.T) {
	got := FanoutModelRounds(1000, 1, 0.99)
	if !near(got, 4602.9, 0.1) || !near(Simple(1000, int(math.Ceil(got))), 0.99, 0.001) {
		t.Errorf("FanoutModelRounds(1000, 1, .99) = %v", got)
	}
	if !near(FanoutModel(1000, 3, int(math.Ceil(FanoutModelRounds(1000, 3, 0.5)))), 0.5, 0.002) {
		t.Errorf("FanoutModelRounds does not invert FanoutModel")
	}
	if FanoutModelRounds(3, 5, 0.9) != 1 || !math.IsNaN(FanoutModelRounds(3, 1, 1)) {
		t.Errorf("edge cases: %v %v", FanoutModelRounds(3, 5, 0.9), FanoutModelRounds(3, 1, 1))
	}
}

func TestSIStep(t *testing.T) {
	if SIStep(0, 3) != 0 || SIStep(1, 3) != 1 {
		t.Errorf("fixed points: SIStep(0)=%v SIStep(1)=%v", SIStep(0, 3), SIStep(1, 3))
	}
	// Early on each informed node adds about f new ones: i' ≈ (1+f)·i.
	if got := SIStep(1e-6, 3); !near(got/1e-6, 4, 1e-4) {
		t.Errorf("early growth factor %v, want 4", got/1e-6)
	}
	c := SI(0.001, 3, 12)
	for i := 1; i < len(c); i++ {
		if c[i] < c[i-1] || c[i] > 1 {
			t.Fatalf("SI not monotone in [0,1]: %v", c)
		}
	}
	if SI(0.1, 1, -1) != nil {
		t.Error("SI with negative rounds should be nil")
	}
}

func TestResidue(t *testing.T) {
	tests := []struct {
		k, want, tol float64
	}{
		{0.5, 1, 0}, {1, 1, 0}, {2, 0.2032, 1e-4}, {3, 0.0595, 1e-4},
		{16, math.Exp(-16), 1e-9},
	}
	for _, tt := range tests {
		got := Residue(tt.k)
		if !near(got, tt.want, tt.tol) {
			t.Errorf("Residue(%v) = %v, want %v", tt.k, got, tt.want)
		}
		if tt.k > 1 && !near(got, math.Exp(-tt.k*(1-got)), 1e-12) {
			t.Errorf("Residue(%v) = %v is not a root", tt.k, got)
		}
	}
}

func TestBounds(t *testing.T) {
	if !near(Pittel(1000), math.Log2(1000)+math.Log(1000), 1e-12) || !near(Pittel(1000), 16.87, 0.01) {
		t.Errorf("Pittel(1000) = %v", Pittel(1000))
	}
	if !near(Karp(1000), 8.22, 0.01) {
		t.Errorf("Karp(1000) = %v", Karp(1000))
	}
	if !math.IsNaN(Karp(2)) {
		t.Errorf("Karp(2) = %v, want NaN", Karp(2))
	}
}

func TestMeanField(t *testing.T) {
	p := DefaultParams()
	p.RetransmitMult = -1
	// With n large the finite recurrence is the SI recurrence.
	p.N = 1_000_000
	mf, si := MeanField(p, Push, 15), SI(1e-6, 3, 15)
	for i := range mf {
		if !near(mf[i], si[i], 0.005) {
			t.Fatalf("round %d: mean field %v, SI %v", i, mf[i], si[i])
		}
	}
	// Infect-and-die settles at the residue of the branching equation.
	p.N = 100_000
	fw := MeanField(p, Forward, 60)
	if got := 1 - fw[len(fw)-1]; !near(got, Residue(3), 0.002) {
		t.Errorf("forward mean-field residue %v, want %v", got, Residue(3))
	}
	// A push limited to L sends per node is infect-and-die with k = L.
	p.RetransmitLimit = 2
	lim := MeanField(p, Push, 200)
	if got := 1 - lim[len(lim)-1]; !near(got, Residue(2), 0.002) {
		t.Errorf("limited push mean-field residue %v, want %v", got, Residue(2))
	}
	// Every mode reaches everyone without a limit, pull-based ones included.
	p = DefaultParams()
	for _, m := range []Mode{Push, Pull, PushPull} {
		c := MeanField(p, m, 40)
		if r := FirstRound(c, AllTarget(p.Live())); r < 0 {
			t.Errorf("%s mean field never reaches all: %v", m, c)
		}
	}
	bad := p
	bad.N = 0
	if MeanField(bad, Push, 5) != nil {
		t.Error("MeanField with invalid params should be nil")
	}
	one := p
	one.N = 1
	if c := MeanField(one, Push, 2); c[0] != 1 || c[2] != 1 {
		t.Errorf("one node: %v", c)
	}
}

func TestFirstRoundAndAllTarget(t *testing.T) {
	c := []float64{0.1, 0.5, 0.99, 1}
	if FirstRound(c, 0.99) != 2 || FirstRound(c, 1.1) != -1 {
		t.Errorf("FirstRound: %d %d", FirstRound(c, 0.99), FirstRound(c, 1.1))
	}
	if AllTarget(1000) != 0.9995 {
		t.Errorf("AllTarget(1000) = %v", AllTarget(1000))
	}
}
