package gossipsim

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Params)
		want   string
	}{
		{"n zero", func(p *Params) { p.N = 0 }, "n = 0"},
		{"n too big", func(p *Params) { p.N = MaxNodes + 1 }, "n = "},
		{"fanout zero", func(p *Params) { p.Fanout = 0 }, "fanout = 0"},
		{"fanout too big", func(p *Params) { p.Fanout = MaxFanout + 1 }, "fanout"},
		{"interval", func(p *Params) { p.Interval = 0 }, "interval"},
		{"hop latency", func(p *Params) { p.HopLatency = -time.Millisecond }, "hop latency"},
		{"loss one", func(p *Params) { p.Loss = 1 }, "loss = 1"},
		{"loss negative", func(p *Params) { p.Loss = -0.1 }, "loss"},
		{"loss NaN", func(p *Params) { p.Loss = math.NaN() }, "loss"},
		{"failed one", func(p *Params) { p.Failed = 1 }, "failed = 1"},
		{"failed NaN", func(p *Params) { p.Failed = math.NaN() }, "failed"},
		{"retransmit limit", func(p *Params) { p.RetransmitLimit = -1 }, "retransmit limit"},
		{"retransmit mult", func(p *Params) { p.RetransmitMult = 5000 }, "retransmit mult"},
		{"anti-entropy", func(p *Params) { p.AntiEntropy = -time.Second }, "anti-entropy"},
		{"anti-entropy too long", func(p *Params) { p.AntiEntropy = 1000 * time.Hour }, "anti-entropy"},
		{"timers", func(p *Params) { p.Timers = 7 }, "timers"},
		{"trials", func(p *Params) { p.Trials = 0 }, "trials = 0"},
		{"rounds", func(p *Params) { p.MaxRounds = -1 }, "max rounds"},
		{"work", func(p *Params) { p.N = MaxNodes; p.Trials = 1000 }, "trials × n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultParams()
			tt.mutate(&p)
			err := p.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "gossipsim: ") {
				t.Fatalf("Validate() = %q, want it to name %q", err, tt.want)
			}
		})
	}
	if err := DefaultParams().Validate(); err != nil {
		t.Fatalf("DefaultParams invalid: %v", err)
	}
}

func TestRetransmitLimitMatchesMemberlist(t *testing.T) {
	// memberlist util.go: retransmitMult * ceil(log10(n+1)).
	tests := []struct{ mult, n, want int }{
		{4, 1, 4}, {4, 5, 4}, {4, 9, 4}, {4, 10, 8}, {4, 99, 8},
		{4, 100, 12}, {4, 1000, 16}, {2, 50, 4}, {0, 1000, 0},
	}
	for _, tt := range tests {
		if got := RetransmitLimit(tt.mult, tt.n); got != tt.want {
			t.Errorf("RetransmitLimit(%d, %d) = %d, want %d", tt.mult, tt.n, got, tt.want)
		}
	}
}

func TestLimit(t *testing.T) {
	tests := []struct {
		name           string
		mult, override int
		n, want        int
	}{
		{"lan 1000", 4, 0, 1000, 16},
		{"override", 4, 1, 1000, 1},
		{"unlimited", -1, 0, 1000, -1},
		{"mult zero still sends once", 0, 0, 1000, 1},
	}
	for _, tt := range tests {
		p := DefaultParams()
		p.N, p.RetransmitMult, p.RetransmitLimit = tt.n, tt.mult, tt.override
		if got := p.Limit(); got != tt.want {
			t.Errorf("%s: Limit() = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestPushPullScaleMatchesMemberlist(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{5, 30 * time.Second}, {32, 30 * time.Second}, {33, 60 * time.Second},
		{64, 60 * time.Second}, {65, 90 * time.Second}, {1000, 180 * time.Second},
	}
	for _, tt := range tests {
		if got := PushPullScale(30*time.Second, tt.n); got != tt.want {
			t.Errorf("PushPullScale(30s, %d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestParseModeAndTimers(t *testing.T) {
	for _, m := range Modes {
		got, err := ParseMode(strings.ToUpper(m.String()))
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMode("all"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseMode(all) = %v, want ErrInvalid", err)
	}
	for _, tm := range []Timers{Lockstep, Staggered} {
		got, err := ParseTimers(tm.String())
		if err != nil || got != tm {
			t.Errorf("ParseTimers(%q) = %v, %v", tm, got, err)
		}
	}
	if _, err := ParseTimers("sync"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseTimers(sync) = %v, want ErrInvalid", err)
	}
	if Mode(9).String() != "mode(9)" || Timers(9).String() != "timers(9)" {
		t.Errorf("unknown enum strings: %q %q", Mode(9), Timers(9))
	}
}

func TestLiveRoundsStep(t *testing.T) {
	p := DefaultParams()
	p.N, p.Failed = 10, 0.25 // round(2.5) = 3 failed
	if got := p.Live(); got != 7 {
		t.Errorf("Live() = %d, want 7", got)
	}
	p.N, p.Failed = 1, 0.9
	if got := p.Live(); got != 1 {
		t.Errorf("Live() with only the origin = %d, want 1", got)
	}
	p = DefaultParams()
	if got := p.Rounds(); got != 200 {
		t.Errorf("auto Rounds() = %d, want 200", got)
	}
	p.AntiEntropy = 30 * time.Second // scaled ×6 at n=1000: 900 rounds
	if got := p.Rounds(); got != 200+4*900 {
		t.Errorf("auto Rounds() with anti-entropy = %d, want %d", got, 200+4*900)
	}
	p.MaxRounds = 7
	if got := p.Rounds(); got != 7 {
		t.Errorf("Rounds() = %d, want 7", got)
	}
	if p.Step(Push) != p.Interval || p.Step(Forward) != p.HopLatency {
		t.Errorf("Step: push %v forward %v", p.Step(Push), p.Step(Forward))
	}
}
