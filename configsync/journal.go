package configsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
)

// The journal: where changes learned from peers wait for the next
// checkpoint (docs/consistency.md, "Durability").
//
// A background commit of replicated changes used to be a bbolt
// transaction: two fdatasyncs, each holding the only P of a one-CPU agent
// until sysmon hands it off (Config.CommitDelay). At ten changes a second
// that moved the DNS p99 (BENCHMARKS.md §11). Now each background commit
// appends one record to JournalFile with a plain write (no sync), which a
// crash of the process cannot lose, and the changes reach bbolt, fsynced,
// in a checkpoint within SyncDelay: a machine crash (power loss, kernel
// panic) can lose what was not checkpointed, the journal's unsynced
// records and the changes not yet journaled.
//
// The file is a header and records:
//
//	header: "MURMURJ1" | id (8 bytes, little-endian) | CRC-32C of the 16 bytes before it
//	record: payload length (4 bytes, LE) | CRC-32C of the id and the payload (4 bytes, LE) | payload
//	payload: a batch (encodeBatch)
//
// Every checkpoint stores a new random id in the database (meta
// "journal") in the transaction that makes the journal's records durable,
// and then starts the journal again with that id. Open replays a journal
// only when its id is the stored one: one left from before a checkpoint, or
// from another database, is ignored whole. A record is replayed only if
// its CRC, which covers the id, verifies; replay stops at the first one
// that does not. A machine crash leaves such a torn tail (the journal is
// never synced), so that is a warning, not an error: the changes in it
// were never acknowledged here and are fetched again from peers.

// JournalFile is the journal's name in the data dir.
const JournalFile = "configsync.journal"

const (
	journalMagic     = "MURMURJ1"
	journalHeaderLen = len(journalMagic) + 8 + crcSize
	journalFrameLen  = 8
	// journalMaxRecord bounds one record's payload: a larger batch is
	// committed by a checkpoint instead, and a length beyond it on disk
	// is a torn or damaged record.
	journalMaxRecord = 4 << 20
	// journalMaxBytes: a journal this large is checkpointed at the next
	// background commit instead of growing further.
	journalMaxBytes = 64 << 20
)

// batch is one background commit: changes learned from peers and
// collected tombstones, with the store's metadata as it was then.
type batch struct {
	puts           []Entry
	removes, marks []KeyVersion
	clock, floor   Version
	completeFrom   int64
}

func (b *batch) keys() int { return len(b.puts) + len(b.removes) }

// batchSizeBound is at least the size of encodeBatch(b): per item the
// key, node name and value, and at most 64 bytes of lengths, varints,
// flags and checksum.
func batchSizeBound(b *batch) int {
	n := 64 * 3
	for i := range b.puts {
		n += 64 + len(b.puts[i].Key) + len(b.puts[i].Version.Node) + len(b.puts[i].Value)
	}
	for _, kvs := range [][]KeyVersion{b.removes, b.marks} {
		for _, kv := range kvs {
			n += 64 + len(kv.Key) + len(kv.Version.Node)
		}
	}
	return n + len(b.clock.Node) + len(b.floor.Node)
}

// newJournalID returns a random non-zero journal id.
func newJournalID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}

func journalHeader(id uint64) []byte {
	h := append([]byte(journalMagic), make([]byte, 8)...)
	binary.LittleEndian.PutUint64(h[len(journalMagic):], id)
	return binary.LittleEndian.AppendUint32(h, crc32.Checksum(h, castagnoli))
}

func recordSum(id uint64, payload []byte) uint32 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], id)
	return crc32.Update(crc32.Update(0, castagnoli, b[:]), castagnoli, payload)
}

// encodeBatch encodes b as a journal payload:
//
//	puts:    count, then key length | key | record length | record (encodeRecord)
//	removes: count, then key length | key | version length | version (encodeMetaVersion)
//	marks:   as removes
//	clock, floor: version length | version
//	completeFrom (zig-zag varint)
func encodeBatch(b *batch) []byte {
	var out []byte
	str := func(s []byte) {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	out = binary.AppendUvarint(out, uint64(len(b.puts)))
	for i := range b.puts {
		str([]byte(b.puts[i].Key))
		str(encodeRecord(&b.puts[i]))
	}
	for _, kvs := range [][]KeyVersion{b.removes, b.marks} {
		out = binary.AppendUvarint(out, uint64(len(kvs)))
		for _, kv := range kvs {
			str([]byte(kv.Key))
			str(encodeMetaVersion(kv.Version))
		}
	}
	str(encodeMetaVersion(b.clock))
	str(encodeMetaVersion(b.floor))
	return binary.AppendVarint(out, b.completeFrom)
}

// decodeBatch decodes and verifies a journal payload: every record's
// checksum, every key's form, every version's range.
func decodeBatch(p []byte) (*batch, error) {
	r := recordReader{b: p}
	bytesOf := func(what string) []byte {
		n := r.uvarint()
		if r.err == nil && n > uint64(len(r.b)) {
			r.err = fmt.Errorf("%s: length %d beyond the record's end", what, n)
		}
		if r.err != nil {
			return nil
		}
		s := r.b[:n]
		r.b = r.b[n:]
		return s
	}
	// count reads a count, each item taking at least two bytes.
	count := func(what string) int {
		n := r.uvarint()
		if r.err == nil && n > uint64(len(r.b))/2 {
			r.err = fmt.Errorf("%s: count %d beyond the record's end", what, n)
		}
		return int(n)
	}
	// version reads what encodeMetaVersion wrote: a removal's or mark's
	// version (of key), or, when key is "", the clock or floor (what),
	// which may be empty.
	version := func(what, key string) Version {
		b := bytesOf(what)
		if r.err != nil || (key == "" && len(b) == 0) {
			return Version{}
		}
		v, err := decodeMetaVersion(b)
		switch {
		case err != nil:
		case len(b) == 0:
			err = errors.New("empty version")
		case len(v.Node) > MaxNodeBytes:
			err = fmt.Errorf("node name of %d bytes, limit %d", len(v.Node), MaxNodeBytes)
		}
		if err != nil && key != "" {
			r.err = fmt.Errorf("version of key %q: %v", key, err)
		} else if err != nil {
			r.err = fmt.Errorf("%s: %v", what, err)
		}
		return v
	}
	b := &batch{}
	n := count("puts")
	for i := 0; i < n && r.err == nil; i++ {
		k := bytesOf("put key")
		rec := bytesOf("put record")
		if r.err != nil {
			break
		}
		e, err := decodeRecord(k, rec, false)
		if err != nil {
			return nil, err
		}
		b.puts = append(b.puts, e)
	}
	for _, dst := range []*[]KeyVersion{&b.removes, &b.marks} {
		n := count("removes and marks")
		for i := 0; i < n && r.err == nil; i++ {
			k := string(bytesOf("key"))
			if r.err == nil {
				if err := checkKeyForm(k); err != nil {
					return nil, fmt.Errorf("key %q: %v", k, err)
				}
			}
			v := version("version", k)
			*dst = append(*dst, KeyVersion{Key: k, Version: v})
		}
	}
	b.clock = version("clock", "")
	b.floor = version("floor", "")
	b.completeFrom = r.varint()
	if r.err == nil {
		if err := checkWall(b.completeFrom); err != nil {
			r.err = fmt.Errorf("complete: %v", err)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the batch", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return b, nil
}

// readJournal decodes a journal file's content. It returns the header's id
// (ok false when the header itself is missing or damaged), the batches of
// the records that verify, and, when it stopped before the end, where and
// why (tail).
func readJournal(data []byte) (id uint64, ok bool, batches []*batch, tail error) {
	if len(data) < journalHeaderLen {
		if len(data) == 0 {
			return 0, false, nil, nil
		}
		return 0, false, nil, fmt.Errorf("header: %d bytes, want %d", len(data), journalHeaderLen)
	}
	h := data[:journalHeaderLen]
	if string(h[:len(journalMagic)]) != journalMagic {
		return 0, false, nil, errors.New("header: not a Murmur journal")
	}
	if binary.LittleEndian.Uint32(h[journalHeaderLen-crcSize:]) != crc32.Checksum(h[:journalHeaderLen-crcSize], castagnoli) {
		return 0, false, nil, errors.New("header: checksum mismatch")
	}
	id = binary.LittleEndian.Uint64(h[len(journalMagic):])
	off := journalHeaderLen
	for off < len(data) {
		rest := data[off:]
		if len(rest) < journalFrameLen {
			return id, true, batches, fmt.Errorf("record at byte %d: truncated frame", off)
		}
		n := binary.LittleEndian.Uint32(rest)
		if n > journalMaxRecord || int(n) > len(rest)-journalFrameLen {
			return id, true, batches, fmt.Errorf("record at byte %d: length %d beyond the file or the limit (%d)", off, n, journalMaxRecord)
		}
		payload := rest[journalFrameLen : journalFrameLen+int(n)]
		if binary.LittleEndian.Uint32(rest[4:]) != recordSum(id, payload) {
			return id, true, batches, fmt.Errorf("record at byte %d: checksum mismatch", off)
		}
		b, err := decodeBatch(payload)
		if err != nil {
			return id, true, batches, fmt.Errorf("record at byte %d: %v", off, err)
		}
		batches = append(batches, b)
		off += journalFrameLen + int(n)
	}
	return id, true, batches, nil
}

// journal is the open journal file. Its methods are called with
// Store.commitMu held.
type journal struct {
	f    *os.File
	path string
	id   uint64
	size int64
}

func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("configsync: open journal: %w", err)
	}
	return &journal{f: f, path: path}, nil
}

// readJournalFile reads the journal at path, at most as much as a
// journal may hold; a missing file reads as empty.
func readJournalFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("configsync: read journal: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, journalMaxBytes+journalMaxRecord+journalFrameLen))
	if err != nil {
		return nil, fmt.Errorf("configsync: read journal %s: %w", path, err)
	}
	return data, nil
}

// reset empties the journal and starts it with id. It is not synced: a
// header lost in a machine crash leaves an old id (or none), and the old
// records are then ignored; records of the old id that survive past the
// new ones fail their checksum, which covers the id.
func (j *journal) reset(id uint64) error {
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("configsync: reset journal %s: %w", j.path, err)
	}
	h := journalHeader(id)
	if _, err := j.f.WriteAt(h, 0); err != nil {
		return fmt.Errorf("configsync: reset journal %s: %w", j.path, err)
	}
	j.id, j.size = id, int64(len(h))
	return nil
}

// append writes one batch as a record, without syncing. A failed or
// short write leaves the size where it was, so the next record
// overwrites what it left.
func (j *journal) append(b *batch) error {
	if batchSizeBound(b) > journalMaxRecord {
		return errJournalFull // not encoded: a full transfer can be gigabytes
	}
	p := encodeBatch(b)
	rec := make([]byte, journalFrameLen, journalFrameLen+len(p))
	binary.LittleEndian.PutUint32(rec, uint32(len(p)))
	binary.LittleEndian.PutUint32(rec[4:], recordSum(j.id, p))
	rec = append(rec, p...)
	if _, err := j.f.WriteAt(rec, j.size); err != nil {
		return fmt.Errorf("configsync: write journal %s: %w", j.path, err)
	}
	j.size += int64(len(rec))
	return nil
}

// full: the next batch goes to a checkpoint instead.
func (j *journal) full() bool { return j.size >= journalMaxBytes }

func (j *journal) close() error { return j.f.Close() }

// errJournalFull: a batch too large for one record; it is checkpointed.
var errJournalFull = errors.New("configsync: batch too large for the journal")
