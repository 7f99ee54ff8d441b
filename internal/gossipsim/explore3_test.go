package gossipsim

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestExplore3(t *testing.T) {
	for _, loss := range []float64{0, 0.1} {
	for _, m := range []Mode{Pull, PushPull} {
		p := DefaultParams()
		p.Trials, p.Loss = 1000, loss
		r, _ := Simulate(p, m, rand.NewPCG(4, 4))
		mf := MeanField(p, m, len(r.Mean)-1)
		for i := range r.Mean {
			fmt.Printf("%v %s %d %.4f %.4f\n", loss, m, i, r.Mean[i], mf[i])
		}
	}
	}
}
