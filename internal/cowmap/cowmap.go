// Package cowmap is a string-keyed map published as an immutable value
// and updated copy-on-write by shards: the next version copies only the
// shards it writes, so a change to one key of a large map costs a
// 1/Shards part of it, not a copy of the whole. The catalog's services
// and the DNS zone's services use it: copying their whole maps on every
// health change was most of the change's cost and garbage at 1 000
// services (BENCHMARKS.md §11).
package cowmap

import (
	"maps"
	"reflect"
	"slices"
)

// Shards is how many maps a Map is split into, by a hash of the key.
const Shards = 64

// Map maps strings to V. A Map returned by Writer.Done is immutable; a
// nil *Map is empty.
type Map[V any] struct {
	shards [Shards]map[string]V
	n      int
}

func shard(key string) int {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % Shards)
}

// Get returns key's value.
func (m *Map[V]) Get(key string) (V, bool) {
	if m == nil {
		var zero V
		return zero, false
	}
	v, ok := m.shards[shard(key)][key]
	return v, ok
}

// Len is the number of keys.
func (m *Map[V]) Len() int {
	if m == nil {
		return 0
	}
	return m.n
}

// Keys returns the keys, sorted.
func (m *Map[V]) Keys() []string {
	out := make([]string, 0, m.Len())
	if m == nil {
		return out
	}
	for _, sh := range m.shards {
		for k := range sh {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// SharesShard reports whether m and o hold the same map (not copies)
// as shard i: a test's view of what an update copied.
func (m *Map[V]) SharesShard(o *Map[V], i int) bool {
	return reflect.ValueOf(m.shards[i]).UnsafePointer() == reflect.ValueOf(o.shards[i]).UnsafePointer()
}

// Writer builds the next Map from one it shares shards with, copying a
// shard at its first write. It is not safe for concurrent use.
type Writer[V any] struct {
	m      Map[V]
	copied [Shards]bool
}

// NewWriter starts the next version of from (nil: an empty map).
func NewWriter[V any](from *Map[V]) *Writer[V] {
	w := &Writer[V]{}
	if from != nil {
		w.m = *from
	}
	return w
}

func (w *Writer[V]) own(i int) map[string]V {
	if !w.copied[i] {
		w.m.shards[i] = maps.Clone(w.m.shards[i])
		if w.m.shards[i] == nil {
			w.m.shards[i] = make(map[string]V)
		}
		w.copied[i] = true
	}
	return w.m.shards[i]
}

// Get returns key's value in the map being built.
func (w *Writer[V]) Get(key string) (V, bool) {
	v, ok := w.m.shards[shard(key)][key]
	return v, ok
}

// Set stores v for key.
func (w *Writer[V]) Set(key string, v V) {
	sh := w.own(shard(key))
	if _, had := sh[key]; !had {
		w.m.n++
	}
	sh[key] = v
}

// Delete removes key.
func (w *Writer[V]) Delete(key string) {
	i := shard(key)
	if _, had := w.m.shards[i][key]; !had {
		return
	}
	delete(w.own(i), key)
	w.m.n--
}

// Done returns the new Map. The Writer must not be used after.
func (w *Writer[V]) Done() *Map[V] {
	m := w.m
	return &m
}
