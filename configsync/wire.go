package configsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Wire format. Every message is
//
//	version byte (ProtocolVersion) | kind byte | node table | body
//
// The node table lists the distinct node names the message mentions
// (uvarint count, then uvarint-length strings); From fields and version
// origins refer to it by uvarint position, so a sync chunk of thousands of
// entries names each node once. Integers are varints (wall times
// zig-zag), hashes fixed little-endian. The agent prepends its own routing
// byte and strips it before Decode.
//
// Decode is strict: every length is checked against what remains and
// against the caps before anything is allocated, versions must have a
// wall time a clock can produce (0 to year 9999), trailing bytes are an
// error, and every error wraps ErrMalformed.

// ProtocolVersion is the first byte of every message. Version 2 added
// content hashes to SyncKeys, the floor to Reject, and the final flag and
// floor to SyncEntries; agents of different versions drop each other's
// messages as malformed.
const ProtocolVersion = 2

// Summary flag bits.
const (
	summaryFloor byte = 1 << iota // a floor version follows
	summaryProbe                  // Summary.Probe
)

// SyncEntries flag bits.
const (
	entriesFinal byte = 1 << iota // SyncEntries.Final
	entriesFloor                  // a floor version follows
)

// Encode serialises m.
func Encode(m Message) []byte {
	var e encoder
	e.nodes = make(map[string]uint64, 4)
	switch m := m.(type) {
	case *Update:
		e.node(m.From)
		e.uvarint(uint64(len(m.Entries)))
		for i := range m.Entries {
			e.entry(&m.Entries[i])
		}
	case *Announce:
		e.node(m.From)
		e.str(m.Key)
		e.version(m.Version)
		e.uvarint(uint64(m.Size))
	case *Fetch:
		e.node(m.From)
		e.str(m.Key)
		e.version(m.Version)
	case *Summary:
		e.node(m.Node)
		e.fixed64(m.Root)
		e.uvarint(m.Count)
		var flags byte // bit 0: a floor follows; bit 1: a probe
		if !m.Floor.IsZero() {
			flags |= summaryFloor
		}
		if m.Probe {
			flags |= summaryProbe
		}
		e.buf = append(e.buf, flags)
		if !m.Floor.IsZero() {
			e.version(m.Floor)
		}
	case *SyncBuckets:
		e.node(m.From)
		e.uvarint(m.Session)
		e.fixed64(m.Salt)
		for _, h := range m.Hashes {
			e.buf = binary.LittleEndian.AppendUint32(e.buf, h)
		}
	case *SyncGroups:
		e.node(m.From)
		e.uvarint(m.Session)
		e.fixed64(m.Salt)
		e.uvarint(uint64(len(m.Buckets)))
		for i := range m.Buckets {
			e.buf = append(e.buf, m.Buckets[i].Bucket)
			for _, h := range m.Buckets[i].Hashes {
				e.buf = binary.LittleEndian.AppendUint16(e.buf, h)
			}
		}
	case *SyncLeaves:
		e.node(m.From)
		e.uvarint(m.Session)
		e.fixed64(m.Salt)
		e.uvarint(uint64(len(m.Groups)))
		for i := range m.Groups {
			e.buf = binary.LittleEndian.AppendUint16(e.buf, m.Groups[i].Group)
			for _, h := range m.Groups[i].Hashes {
				e.buf = binary.LittleEndian.AppendUint16(e.buf, h)
			}
		}
	case *SyncKeys:
		e.node(m.From)
		e.uvarint(m.Session)
		e.fixed64(m.Salt)
		e.uvarint(uint64(len(m.Leaves)))
		for _, lk := range m.Leaves {
			e.buf = binary.LittleEndian.AppendUint16(e.buf, lk.Leaf)
			e.uvarint(uint64(len(lk.Keys)))
			for _, hv := range lk.Keys {
				e.fixed64(hv.Hash)
				e.version(hv.Version)
				e.buf = binary.LittleEndian.AppendUint32(e.buf, hv.Content)
			}
		}
	case *SyncEntries:
		e.node(m.From)
		e.uvarint(m.Session)
		var flags byte
		if m.Final {
			flags |= entriesFinal
		}
		if !m.Floor.IsZero() {
			flags |= entriesFloor
		}
		e.buf = append(e.buf, flags)
		if !m.Floor.IsZero() {
			e.version(m.Floor)
		}
		if m.Final {
			e.uvarint(m.Total)
		}
		e.uvarint(uint64(len(m.Entries)))
		for i := range m.Entries {
			e.entry(&m.Entries[i])
		}
		e.uvarint(uint64(len(m.Want)))
		for _, h := range m.Want {
			e.fixed64(h)
		}
	case *Reject:
		e.node(m.From)
		e.optVersion(m.Floor)
		e.uvarint(uint64(len(m.Items)))
		for _, it := range m.Items {
			e.str(it.Key)
			e.version(it.Version)
		}
	default:
		panic(fmt.Sprintf("configsync: Encode of unknown message %T", m))
	}
	n := 2 + binary.MaxVarintLen64 + len(e.buf)
	for _, s := range e.table {
		n += binary.MaxVarintLen64 + len(s)
	}
	out := make([]byte, 0, n)
	out = append(out, ProtocolVersion, byte(m.Kind()))
	out = binary.AppendUvarint(out, uint64(len(e.table)))
	for _, s := range e.table {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return append(out, e.buf...)
}

type encoder struct {
	buf   []byte
	nodes map[string]uint64
	table []string
}

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) fixed64(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) node(name string) {
	i, ok := e.nodes[name]
	if !ok {
		i = uint64(len(e.table))
		e.nodes[name] = i
		e.table = append(e.table, name)
	}
	e.uvarint(i)
}

func (e *encoder) version(v Version) {
	e.buf = binary.AppendVarint(e.buf, v.Wall)
	e.uvarint(uint64(v.Logical))
	e.node(v.Node)
}

// optVersion writes a presence byte, then v unless it is zero.
func (e *encoder) optVersion(v Version) {
	if v.IsZero() {
		e.buf = append(e.buf, 0)
		return
	}
	e.buf = append(e.buf, 1)
	e.version(v)
}

func (e *encoder) entry(en *Entry) {
	e.str(en.Key)
	e.version(en.Version)
	e.uvarint(en.Flags)
	if en.Deleted {
		e.buf = append(e.buf, 1)
		e.uvarint(0)
		return
	}
	e.buf = append(e.buf, 0)
	e.uvarint(uint64(len(en.Value)))
	e.buf = append(e.buf, en.Value...)
}

// Decode parses a message made by Encode. Decoded messages never share
// memory with b.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessageBytes {
		return nil, errorf(ErrMalformed, "malformed message: %d bytes, limit is %d", len(b), MaxMessageBytes)
	}
	if len(b) < 2 {
		return nil, errorf(ErrMalformed, "malformed message: %d bytes, shorter than the 2-byte header", len(b))
	}
	if b[0] != ProtocolVersion {
		return nil, errorf(ErrMalformed, "malformed message: protocol version %d, want %d", b[0], ProtocolVersion)
	}
	k := Kind(b[1])
	if k == 0 || k >= numKinds {
		return nil, errorf(ErrMalformed, "malformed message: unknown kind %d", b[1])
	}
	d := decoder{b: b, off: 2, kind: k}
	n := d.count("node table", 2)
	d.nodes = make([]string, 0, min(n, preallocMax))
	for i := 0; i < n && d.err == nil; i++ {
		name := d.str("node name", MaxNodeBytes)
		if d.err == nil {
			if err := checkNode(name); err != nil {
				d.fail("node name %d: %v", i, err)
			}
		}
		d.nodes = append(d.nodes, name)
	}
	m := d.body()
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d trailing bytes", len(d.b)-d.off)
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

func (d *decoder) body() Message {
	switch d.kind {
	case KindUpdate:
		m := &Update{From: d.node("from")}
		m.Entries = d.entries()
		return m
	case KindAnnounce:
		m := &Announce{From: d.node("from"), Key: d.key("key"), Version: d.version("version")}
		if s := d.uvarint("size"); s > math.MaxUint32 {
			d.fail("size %d exceeds 32 bits", s)
		} else {
			m.Size = uint32(s)
		}
		return m
	case KindFetch:
		return &Fetch{From: d.node("from"), Key: d.key("key"), Version: d.version("version")}
	case KindSummary:
		m := &Summary{Node: d.node("node"), Root: d.fixed64("root"), Count: d.uvarint("count")}
		flags := d.byte("summary flags")
		if flags&^(summaryFloor|summaryProbe) != 0 {
			d.fail("unknown summary flags %#x", flags)
		}
		if flags&summaryFloor != 0 {
			m.Floor = d.version("floor")
		}
		m.Probe = flags&summaryProbe != 0
		return m
	case KindSyncBuckets:
		m := &SyncBuckets{From: d.node("from"), Session: d.uvarint("session"), Salt: d.fixed64("salt")}
		if d.need("bucket hashes", 4*Buckets) {
			for i := range m.Hashes {
				m.Hashes[i] = binary.LittleEndian.Uint32(d.b[d.off:])
				d.off += 4
			}
		}
		return m
	case KindSyncGroups:
		m := &SyncGroups{From: d.node("from"), Session: d.uvarint("session"), Salt: d.fixed64("salt")}
		n := d.count("buckets", 1+2*GroupsPerBucket)
		if n > Buckets {
			d.fail("%d buckets, at most %d", n, Buckets)
			return nil
		}
		m.Buckets = make([]BucketGroups, n)
		for i := range m.Buckets {
			m.Buckets[i].Bucket = d.byte("bucket")
			for g := range m.Buckets[i].Hashes {
				m.Buckets[i].Hashes[g] = d.fixed16("group hash")
			}
		}
		return m
	case KindSyncLeaves:
		m := &SyncLeaves{From: d.node("from"), Session: d.uvarint("session"), Salt: d.fixed64("salt")}
		n := d.count("groups", 2+2*LeavesPerGroup)
		if n > Buckets*GroupsPerBucket {
			d.fail("%d groups, at most %d", n, Buckets*GroupsPerBucket)
			return nil
		}
		m.Groups = make([]GroupLeaves, n)
		for i := range m.Groups {
			m.Groups[i].Group = d.fixed16("group")
			if d.err == nil && m.Groups[i].Group >= Buckets*GroupsPerBucket {
				d.fail("group %d out of range", m.Groups[i].Group)
			}
			for l := range m.Groups[i].Hashes {
				m.Groups[i].Hashes[l] = d.fixed16("leaf hash")
			}
		}
		return m
	case KindSyncKeys:
		m := &SyncKeys{From: d.node("from"), Session: d.uvarint("session"), Salt: d.fixed64("salt")}
		n := d.count("leaves", 3)
		m.Leaves = make([]LeafKeys, 0, min(n, preallocMax))
		for i := 0; i < n && d.err == nil; i++ {
			lk := LeafKeys{Leaf: d.fixed16("leaf")}
			k := d.count("leaf keys", 15)
			if k > 0 {
				lk.Keys = make([]HashVersion, 0, min(k, preallocMax))
			}
			for j := 0; j < k && d.err == nil; j++ {
				lk.Keys = append(lk.Keys, HashVersion{Hash: d.fixed64("key hash"), Version: d.version("version"), Content: d.fixed32("content hash")})
			}
			m.Leaves = append(m.Leaves, lk)
		}
		return m
	case KindSyncEntries:
		m := &SyncEntries{From: d.node("from"), Session: d.uvarint("session")}
		flags := d.byte("sync entries flags")
		if flags&^(entriesFinal|entriesFloor) != 0 {
			d.fail("unknown sync entries flags %#x", flags)
		}
		m.Final = flags&entriesFinal != 0
		if flags&entriesFloor != 0 {
			m.Floor = d.version("floor")
		}
		if m.Final {
			m.Total = d.uvarint("total")
		}
		m.Entries = d.entries()
		w := d.count("want", 8)
		if w > 0 {
			m.Want = make([]uint64, 0, min(w, preallocMax))
		}
		for i := 0; i < w && d.err == nil; i++ {
			m.Want = append(m.Want, d.fixed64("want"))
		}
		return m
	case KindReject:
		m := &Reject{From: d.node("from"), Floor: d.optVersion("floor")}
		n := d.count("items", 5)
		m.Items = make([]KeyVersion, 0, min(n, preallocMax))
		for i := 0; i < n && d.err == nil; i++ {
			m.Items = append(m.Items, KeyVersion{Key: d.key("key"), Version: d.version("version")})
		}
		return m
	}
	return nil
}

// preallocMax caps what a list count may preallocate: beyond it, lists
// grow only as elements actually decode, so memory follows the bytes
// received rather than a claimed count.
const preallocMax = 1024

type decoder struct {
	b     []byte
	off   int
	kind  Kind
	nodes []string
	err   error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = errorf(ErrMalformed, "malformed %s message at byte %d: %s", d.kind, d.off, fmt.Sprintf(format, args...))
	}
}

// need reports whether n more bytes are there.
func (d *decoder) need(what string, n int, part ...string) bool {
	if d.err != nil {
		return false
	}
	if len(d.b)-d.off < n {
		d.fail("%s: truncated (need %d bytes, have %d)", joinName(what, part), n, len(d.b)-d.off)
		return false
	}
	return true
}

func (d *decoder) byte(what string, part ...string) byte {
	if !d.need(what, 1, part...) {
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

// Field names are passed in two parts (what, part) and joined only in an
// error message: decoding allocates nothing for names.

func (d *decoder) uvarint(what string, part ...string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("%s: bad varint", joinName(what, part))
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(what string, part ...string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("%s: bad varint", joinName(what, part))
		return 0
	}
	d.off += n
	return v
}

func joinName(what string, part []string) string {
	for _, p := range part {
		what += " " + p
	}
	return what
}

func (d *decoder) fixed64(what string) uint64 {
	if !d.need(what, 8) {
		return 0
	}
	d.off += 8
	return binary.LittleEndian.Uint64(d.b[d.off-8:])
}

func (d *decoder) fixed32(what string) uint32 {
	if !d.need(what, 4) {
		return 0
	}
	d.off += 4
	return binary.LittleEndian.Uint32(d.b[d.off-4:])
}

func (d *decoder) fixed16(what string) uint16 {
	if !d.need(what, 2) {
		return 0
	}
	d.off += 2
	return binary.LittleEndian.Uint16(d.b[d.off-2:])
}

// count reads a list length; each element takes at least minSize bytes,
// so a length the rest of the message cannot hold is refused before
// anything is allocated for it.
func (d *decoder) count(what string, minSize int) int {
	v := d.uvarint(what, "count")
	if d.err != nil {
		return 0
	}
	if rest := uint64(len(d.b) - d.off); v > rest/uint64(minSize) {
		d.fail("%s count %d cannot fit in the %d bytes left", what, v, rest)
		return 0
	}
	return int(v)
}

// raw reads a length-prefixed byte string of at most limit bytes.
func (d *decoder) raw(what string, limit int) []byte {
	v := d.uvarint(what, "length")
	if d.err != nil {
		return nil
	}
	if v > uint64(limit) {
		d.fail("%s: length %d exceeds limit %d", what, v, limit)
		return nil
	}
	if !d.need(what, int(v)) {
		return nil
	}
	d.off += int(v)
	return d.b[d.off-int(v) : d.off]
}

func (d *decoder) str(what string, limit int) string { return string(d.raw(what, limit)) }

func (d *decoder) key(what string) string {
	k := d.str(what, MaxKeyBytesCap)
	if d.err == nil {
		if err := checkKeyForm(k); err != nil {
			var de *detailError
			if errors.As(err, &de) {
				d.fail("%s: %s", what, de.msg[len("configsync: "):])
			} else {
				d.fail("%s: %v", what, err)
			}
		}
	}
	return k
}

func (d *decoder) node(what string, part ...string) string {
	i := d.uvarint(what, part...)
	if d.err != nil {
		return ""
	}
	if i >= uint64(len(d.nodes)) {
		d.fail("%s: node %d not in the table of %d", joinName(what, part), i, len(d.nodes))
		return ""
	}
	return d.nodes[i]
}

func (d *decoder) version(what string) Version {
	v := Version{Wall: d.varint(what, "wall")}
	if d.err == nil {
		if err := checkWall(v.Wall); err != nil {
			d.fail("%s: %v", what, err)
		}
	}
	l := d.uvarint(what, "logical")
	if l > math.MaxUint32 {
		d.fail("%s: logical %d exceeds 32 bits", what, l)
	}
	v.Logical = uint32(l)
	v.Node = d.node(what, "node")
	return v
}

// optVersion reads what encoder.optVersion wrote.
func (d *decoder) optVersion(what string) Version {
	switch d.byte(what, "presence") {
	case 0:
		return Version{}
	case 1:
		return d.version(what)
	}
	d.fail("%s: presence byte is not 0 or 1", what)
	return Version{}
}

func (d *decoder) entries() []Entry {
	n := d.count("entries", 6)
	out := make([]Entry, 0, min(n, preallocMax))
	for i := 0; i < n && d.err == nil; i++ {
		e := Entry{Key: d.key("entry key")}
		e.Version = d.version("entry version")
		e.Flags = d.uvarint("entry flags")
		switch d.byte("entry deleted flag") {
		case 0:
		case 1:
			e.Deleted = true
		default:
			d.fail("entry %d: deleted flag is not 0 or 1", i)
		}
		v := d.raw("entry value", MaxValueBytesCap)
		if e.Deleted && len(v) > 0 {
			d.fail("entry %d: tombstone with a %d-byte value", i, len(v))
		}
		if len(v) > 0 {
			e.Value = append([]byte(nil), v...)
		}
		out = append(out, e)
	}
	return out
}
