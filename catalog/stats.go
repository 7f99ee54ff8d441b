package catalog

import (
	"sync/atomic"
	"time"
)

// Stats are the catalog's counters since New, for metrics.
type Stats struct {
	// Services and Instances in the current snapshot.
	Services  int
	Instances int
	// Decodes counts replicated records decoded: one per changed record,
	// whatever the size of the catalog.
	Decodes uint64
	// Malformed counts records that did not decode (ignored).
	Malformed uint64
	// Rebuilds counts snapshots published; RebuildTime is their total
	// build time (the OnSnapshot hook, i.e. DNS zone compilation,
	// included) and LastRebuild the last one's.
	Rebuilds    uint64
	RebuildTime time.Duration
	LastRebuild time.Duration
	// Built is when the current snapshot was built: its age is how long
	// the catalog has gone without a change.
	Built time.Time
	// Serial is the current snapshot's serial.
	Serial uint32
	// Reaped counts records of reaped nodes this agent deleted.
	Reaped uint64
	// CheckRuns counts this agent's check results by their raw health
	// (a TCP or HTTP probe, a TTL update, a TTL expiry); CheckChanges
	// counts changes of a check's (damped) health by the new health.
	CheckRuns    map[Health]uint64
	CheckChanges map[Health]uint64
}

// checkCounters count check runs and health changes, lock-free; a nil
// *checkCounters counts nothing.
type checkCounters struct {
	runs, changes [len(healthNames)]atomic.Uint64
}

func (k *checkCounters) ran(h Health) {
	if k != nil && int(h) < len(k.runs) {
		k.runs[h].Add(1)
	}
}

func (k *checkCounters) changed(h Health) {
	if k != nil && int(h) < len(k.changes) {
		k.changes[h].Add(1)
	}
}

type counters struct {
	decodes   atomic.Uint64
	malformed atomic.Uint64
	rebuilds  atomic.Uint64
	rebuildNs atomic.Int64
	lastNs    atomic.Int64
	reaped    atomic.Uint64
}

func (c *counters) rebuilt(d time.Duration, _ int) {
	c.rebuilds.Add(1)
	c.rebuildNs.Add(int64(d))
	c.lastNs.Store(int64(d))
}

// Stats returns the counters.
func (c *Catalog) Stats() Stats {
	s := c.snap.Load()
	st := Stats{
		Services:    len(s.names),
		Instances:   s.count,
		Decodes:     c.stat.decodes.Load(),
		Malformed:   c.stat.malformed.Load(),
		Rebuilds:    c.stat.rebuilds.Load(),
		RebuildTime: time.Duration(c.stat.rebuildNs.Load()),
		LastRebuild: time.Duration(c.stat.lastNs.Load()),
		Built:       s.built,
		Serial:      s.serial,
		Reaped:      c.stat.reaped.Load(),
		CheckRuns:   map[Health]uint64{}, CheckChanges: map[Health]uint64{},
	}
	for h := HealthPassing; h <= HealthCritical; h++ {
		st.CheckRuns[h] = c.reg.checks.runs[h].Load()
		st.CheckChanges[h] = c.reg.checks.changes[h].Load()
	}
	return st
}
