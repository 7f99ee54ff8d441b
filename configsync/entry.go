package configsync

import "bytes"

// Entry is one replicated key: the unit of merge and of the wire. A delete
// is an Entry with Deleted set (a tombstone) and no value.
type Entry struct {
	Key   string
	Value []byte
	// Version orders writes to Key; the greatest wins.
	Version Version
	// Flags is an opaque number the writer attaches (Consul's flags).
	Flags   uint64
	Deleted bool
}

// Record is an Entry as this agent holds it: Index is the local
// modification index at which it was last changed here. Records returned
// by the Store own their Value; the State shares it and it must not be
// modified.
type Record struct {
	Entry
	Index uint64
}

// Newer reports whether e beats o under last-writer-wins: the greater
// Version, and for equal versions (which a correct cluster never produces,
// but a node restarted without its data might) a fixed order on the
// content, so that Merge stays commutative.
func (e Entry) Newer(o Entry) bool { return compareEntries(e, o) > 0 }

func compareEntries(a, b Entry) int {
	if c := a.Version.Compare(b.Version); c != 0 {
		return c
	}
	if a.Deleted != b.Deleted {
		if a.Deleted {
			return 1
		}
		return -1
	}
	if a.Flags != b.Flags {
		if a.Flags > b.Flags {
			return 1
		}
		return -1
	}
	return bytes.Compare(a.Value, b.Value)
}

// Merge is the last-writer-wins join of two entries of the same key: the
// newer one. It is idempotent, commutative and associative, so replicas
// that have seen the same writes agree whatever the order they saw them.
func Merge(a, b Entry) Entry {
	if b.Newer(a) {
		return b
	}
	return a
}

// size estimates the encoded size of e, for chunking.
func (e Entry) size() int { return len(e.Key) + len(e.Value) + len(e.Version.Node) + 32 }
