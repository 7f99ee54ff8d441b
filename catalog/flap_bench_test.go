package catalog

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkHealthChange: one instance's health change at 10,000 instances
// (1,000 services of 10), from the store write to the published snapshot
// (the DNS zone compile, done by the agent's OnSnapshot hook, is not
// included). B/op is what each change gives the garbage collector.
//
//	go test -run '^$' -bench HealthChange -benchmem ./catalog/
func BenchmarkHealthChange(b *testing.B) {
	s := openStore(b, "self", "")
	c := start(b, Config{Node: "self", Store: s, Members: newMembers("self", "n1", "n2"), Logger: quiet()})
	for i := range 10000 {
		putRecord(b, s, fmt.Sprintf("n%d", 1+i%2), Definition{Name: fmt.Sprintf("svc%04d", i/10), ID: fmt.Sprintf("i%d", i), Port: 80}, HealthPassing)
	}
	waitFor(b, wait, "10000 instances", func() bool { return c.Snapshot().Len() == 10000 })
	def := Definition{Name: "svc0007", ID: "i71", Port: 80}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h := HealthPassing
		if i%2 == 0 {
			h = HealthCritical
		}
		seq := c.Snapshot().Seq()
		putRecord(b, s, "n2", def, h)
		for c.Snapshot().Seq() == seq {
			runtime.Gosched()
		}
	}
}
