package catalog

import "github.com/murmurhq/murmur/internal/cowmap"

// setService stores list as name's instances in the next snapshot's
// services (a copy-on-write map by shards, so that a health change copies
// 1/64 of the services, not all of them: BENCHMARKS.md §11); nil
// removes the service.
func setService(w *cowmap.Writer[[]Instance], name string, list []Instance) {
	if list == nil {
		w.Delete(name)
		return
	}
	w.Set(name, list)
}
