package catalog

import (
	"testing"

	"github.com/murmurhq/murmur/internal/clock"
)

func TestCheckCounters(t *testing.T) {
	var k checkCounters
	c := newCheckRunner(Check{TCP: "x", FailuresBeforeCritical: 2}, clock.Real{}, func(Health, string) {})
	c.counts = &k
	c.record(checkResult{HealthPassing, "ok"})   // critical → passing
	c.record(checkResult{HealthCritical, "no"})  // one failure: still passing
	c.record(checkResult{HealthCritical, "no"})  // → critical
	c.record(checkResult{HealthWarning, "slow"}) // → warning
	if r := [4]uint64{k.runs[0].Load(), k.runs[1].Load(), k.runs[2].Load(), k.runs[3].Load()}; r != [4]uint64{0, 1, 1, 2} {
		t.Errorf("runs by result %v, want passing 1, warning 1, critical 2", r)
	}
	if ch := [4]uint64{k.changes[0].Load(), k.changes[1].Load(), k.changes[2].Load(), k.changes[3].Load()}; ch != [4]uint64{0, 1, 1, 1} {
		t.Errorf("changes by new health %v, want one to each", ch)
	}
	ttl := newCheckRunner(Check{TTL: 1e9}, clock.Real{}, func(Health, string) {})
	ttl.counts = &k
	if err := ttl.updateTTL(HealthPassing, "fine"); err != nil {
		t.Fatal(err)
	}
	if k.runs[HealthPassing].Load() != 2 || k.changes[HealthPassing].Load() != 2 {
		t.Errorf("a TTL update is not counted: runs %d, changes %d", k.runs[HealthPassing].Load(), k.changes[HealthPassing].Load())
	}
}
