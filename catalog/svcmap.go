package catalog

import (
	"maps"
	"slices"
)

// svcShards splits a snapshot's services by a hash of the name, so that
// a new snapshot copies only the shards of the services that changed:
// one copy-on-write map of 1 000 services cost a health change ~100 KB
// and most of its rebuild (BENCHMARKS.md §11).
const svcShards = 64

// svcMap maps a lower-case service name to its instances. A published
// one is immutable; update makes the next one with with.
type svcMap struct {
	shards [svcShards]map[string][]Instance
	n      int // services
}

func svcShard(name string) int {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return int(h % svcShards)
}

func (m *svcMap) get(name string) ([]Instance, bool) {
	if m == nil {
		return nil, false
	}
	l, ok := m.shards[svcShard(name)][name]
	return l, ok
}

// keys returns the service names, sorted.
func (m *svcMap) keys() []string {
	out := make([]string, 0, m.n)
	for _, sh := range m.shards {
		for k := range sh {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// svcWriter builds the next svcMap from one it shares shards with,
// copying a shard at its first write.
type svcWriter struct {
	m      svcMap
	copied [svcShards]bool
}

func newSvcWriter(from *svcMap) *svcWriter {
	w := &svcWriter{}
	if from != nil {
		w.m = *from
	}
	return w
}

// set stores list for name; nil removes it.
func (w *svcWriter) set(name string, list []Instance) {
	i := svcShard(name)
	if !w.copied[i] {
		w.m.shards[i] = maps.Clone(w.m.shards[i])
		if w.m.shards[i] == nil {
			w.m.shards[i] = make(map[string][]Instance)
		}
		w.copied[i] = true
	}
	sh := w.m.shards[i]
	_, had := sh[name]
	switch {
	case list == nil && had:
		delete(sh, name)
		w.m.n--
	case list != nil:
		sh[name] = list
		if !had {
			w.m.n++
		}
	}
}

func (w *svcWriter) done() *svcMap {
	m := w.m
	return &m
}
