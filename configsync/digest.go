package configsync

import (
	"slices"

	"github.com/cespare/xxhash/v2"
)

// The anti-entropy digest is a two-level hash tree kept up to date on every
// change: each entry hashes to 64 bits over (key, version, content); the
// hash of its key picks one of 256 buckets and one of 256 leaves in that
// bucket; leaf, bucket and root hashes are XORs of the entry hashes below
// them. Adding or removing an entry is O(1) and a digest is read, never
// recomputed, so its cost does not grow with the number of keys.
const (
	// Buckets is the number of top-level buckets.
	Buckets = 256
	// LeavesPerBucket is the number of leaves in one bucket.
	LeavesPerBucket = 256
)

// keyHash is the stable 64-bit hash of a key; every agent computes the
// same value (it travels on the wire in sync summaries).
func keyHash(key string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= fnvPrime
	}
	return mix64(h ^ uint64(len(key)))
}

// leafOf splits a key hash into its bucket and leaf.
func leafOf(kh uint64) (bucket, leaf uint8) { return uint8(kh >> 56), uint8(kh >> 48) }

// leafID is bucket<<8 | leaf, the wire name of a leaf.
func leafID(kh uint64) uint16 { return uint16(kh >> 48) }

// contentHash covers an entry's content: value, flags and the deleted
// bit. It is stable across agents (xxHash64), so replicas compare content
// on the wire.
func contentHash(e *Entry) uint64 {
	h := xxhash.Sum64(e.Value)
	h = fnvUint64(h^fnvOffset, e.Flags)
	if e.Deleted {
		h = fnvUint64(h, 1)
	}
	return mix64(h)
}

// entryHash covers what makes two replicas of a key differ: key, version
// and content. Equal versions normally name one write, but a forged
// message or a node restarted without its data can produce two contents
// under one version; the content in the hash makes the digests differ, so
// anti-entropy repairs it (Merge's content tie-break picks the winner).
func entryHash(kh, ch uint64, e *Entry) uint64 {
	h := kh ^ fnvOffset
	h = fnvUint64(h, uint64(e.Version.Wall))
	h = fnvUint64(h, uint64(e.Version.Logical))
	for i := 0; i < len(e.Version.Node); i++ {
		h ^= uint64(e.Version.Node[i])
		h *= fnvPrime
	}
	h = fnvUint64(h, uint64(len(e.Version.Node)))
	h = fnvUint64(h, ch)
	return mix64(h)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvUint64(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h ^= v & 0xff
		h *= fnvPrime
		v >>= 8
	}
	return h
}

// mix64 is the murmur3 finalizer: it spreads every input bit over the
// output, so truncations and bucket choices are uniform.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// salted32 and salted16 shorten a 64-bit hash for the wire. The salt
// changes every sync session, so two different hashes that collide after
// truncation do so only by chance, once; the next session repairs what a
// collision hid.
func salted32(h, salt uint64) uint32 { return uint32(mix64(h ^ salt)) }
func salted16(h, salt uint64) uint16 { return uint16(mix64(h^salt^0x9e3779b97f4a7c15) >> 17) }

// tree is the digest plus an index of the records in every leaf, so sync
// steps can list a leaf without scanning the store.
type tree struct {
	root    uint64
	bucket  [Buckets]uint64
	nodes   [Buckets]*bucketNode
	entries int
}

type bucketNode struct {
	leaf [LeavesPerBucket]uint64
	recs [LeavesPerBucket][]*record
	n    int
}

func (t *tree) add(r *record) {
	b, l := leafOf(r.kh)
	nd := t.nodes[b]
	if nd == nil {
		nd = &bucketNode{}
		t.nodes[b] = nd
	}
	nd.leaf[l] ^= r.eh
	nd.recs[l] = append(nd.recs[l], r)
	nd.n++
	t.bucket[b] ^= r.eh
	t.root ^= r.eh
	t.entries++
}

func (t *tree) remove(r *record) {
	b, l := leafOf(r.kh)
	nd := t.nodes[b]
	if nd == nil {
		return
	}
	i := slices.Index(nd.recs[l], r)
	if i < 0 {
		return
	}
	last := len(nd.recs[l]) - 1
	nd.recs[l][i] = nd.recs[l][last]
	nd.recs[l][last] = nil
	nd.recs[l] = nd.recs[l][:last]
	if last == 0 {
		nd.recs[l] = nil
	}
	nd.leaf[l] ^= r.eh
	nd.n--
	t.bucket[b] ^= r.eh
	t.root ^= r.eh
	t.entries--
	if nd.n == 0 {
		t.nodes[b] = nil
	}
}

// leafHash is the hash of one leaf (0 when empty).
func (t *tree) leafHash(b, l uint8) uint64 {
	if nd := t.nodes[b]; nd != nil {
		return nd.leaf[l]
	}
	return 0
}

// groupHash is the XOR of the 16 leaves of a group (bucket*16 + index).
func (t *tree) groupHash(group uint16) uint64 {
	nd := t.nodes[group/GroupsPerBucket]
	if nd == nil {
		return 0
	}
	var h uint64
	first := int(group%GroupsPerBucket) * LeavesPerGroup
	for _, x := range nd.leaf[first : first+LeavesPerGroup] {
		h ^= x
	}
	return h
}

// leafRecords lists the records in a leaf; the slice must not be kept.
func (t *tree) leafRecords(id uint16) []*record {
	if nd := t.nodes[id>>8]; nd != nil {
		return nd.recs[uint8(id)]
	}
	return nil
}

// byKeyHash finds the record with key hash kh.
func (t *tree) byKeyHash(kh uint64) *record {
	for _, r := range t.leafRecords(leafID(kh)) {
		if r.kh == kh {
			return r
		}
	}
	return nil
}
