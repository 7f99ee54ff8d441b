package configsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// On-disk layout (bbolt):
//
//	bucket "entries": key → record (format byte, version, flags, deleted, value)
//	bucket "meta":    "schema" → 1
//	                  "node"   → node name that wrote the file
//	                  "clock"  → greatest version issued or observed
//	                  "floor"  → tombstone floor
//	                  "index"  → modification index ceiling (see indexLease)
//
// Local writes go through db.Batch (group commit, fsynced before Put
// returns); changes learned from peers through the committer's db.Update.
// Both write an entry only if it is newer than the stored one and remove
// one only if it is not newer than the removed version, so the order in
// which the two paths commit does not matter.

var (
	bucketEntries = []byte("entries")
	bucketMeta    = []byte("meta")
	metaSchema    = []byte("schema")
	metaNode      = []byte("node")
	metaClock     = []byte("clock")
	metaFloor     = []byte("floor")
	metaIndex     = []byte("index")
)

const (
	schemaVersion = 1
	recordFormat  = 1
	// indexLease: the persisted index is a ceiling this far above the
	// live index, raised before the index gets near it. A restart resumes
	// above the ceiling, so the index never goes backwards even when the
	// latest changes were not yet committed.
	indexLease = 1 << 20
)

type disk struct {
	db   *bolt.DB
	path string
}

func openDisk(path string, batchDelay time.Duration) (*disk, error) {
	if _, err := os.Stat(path); err == nil {
		// bbolt maps whatever is there; refuse an obviously wrong file
		// before it does.
		if err := checkFileHeader(path); err != nil {
			return nil, err
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("configsync: open %s: database is locked by another process", path)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
			return nil, fmt.Errorf("%w: open %s: %v", ErrCorrupt, path, err)
		}
		if _, named := errors.AsType[*fs.PathError](err); named {
			return nil, fmt.Errorf("configsync: %w", err) // it names the path already
		}
		return nil, fmt.Errorf("configsync: open %s: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	return &disk{db: db, path: path}, nil
}

// checkFileHeader rejects a non-empty file too short to be a database.
func checkFileHeader(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("configsync: open %s: %w", path, err)
	}
	if fi.Size() > 0 && fi.Size() < 1024 {
		return fmt.Errorf("%w: open %s: file is %d bytes, too short for a database", ErrCorrupt, path, fi.Size())
	}
	return nil
}

func (d *disk) close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("configsync: close %s: %w", d.path, err)
	}
	return nil
}

// diskState is what load reads back.
type diskState struct {
	node         string
	clock, floor Version
	index        uint64
	entries      []Entry
}

// load reads the whole database, creating the buckets of a new one. Any
// undecodable content is an error wrapping ErrCorrupt: a store is never
// silently emptied.
func (d *disk) load() (ds diskState, err error) {
	defer func() {
		// bbolt panics on some page corruptions.
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: read %s: %v", ErrCorrupt, d.path, p)
		}
	}()
	fresh := false
	err = d.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		entries := tx.Bucket(bucketEntries)
		if meta == nil {
			if entries != nil {
				return errors.New("entries without meta bucket")
			}
			fresh = true
			return nil
		}
		if s := meta.Get(metaSchema); len(s) != 1 || s[0] != schemaVersion {
			return fmt.Errorf("schema %v, want %d", s, schemaVersion)
		}
		if entries == nil {
			return errors.New("missing entries bucket")
		}
		ds.node = string(meta.Get(metaNode))
		var err error
		if ds.clock, err = decodeMetaVersion(meta.Get(metaClock)); err != nil {
			return fmt.Errorf("clock: %v", err)
		}
		if ds.floor, err = decodeMetaVersion(meta.Get(metaFloor)); err != nil {
			return fmt.Errorf("floor: %v", err)
		}
		if b := meta.Get(metaIndex); b != nil {
			v, n := binary.Uvarint(b)
			if n != len(b) {
				return errors.New("index: bad varint")
			}
			ds.index = v
		}
		return entries.ForEach(func(k, v []byte) error {
			e, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			ds.entries = append(ds.entries, e)
			return nil
		})
	})
	if err != nil {
		return ds, fmt.Errorf("%w: read %s: %v", ErrCorrupt, d.path, err)
	}
	if fresh {
		err = d.db.Update(func(tx *bolt.Tx) error {
			meta, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if _, err = tx.CreateBucket(bucketEntries); err != nil {
				return err
			}
			return meta.Put(metaSchema, []byte{schemaVersion})
		})
		if err != nil {
			return ds, fmt.Errorf("configsync: initialise %s: %w", d.path, err)
		}
	}
	return ds, nil
}

// writeLocal makes local writes durable (group-committed, fsynced).
func (d *disk) writeLocal(entries []Entry, clock Version) error {
	err := d.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		for i := range entries {
			if err := putIfNewer(b, &entries[i]); err != nil {
				return err
			}
		}
		return raiseVersion(tx.Bucket(bucketMeta), metaClock, clock)
	})
	if err != nil {
		return fmt.Errorf("configsync: write %s: %w", d.path, err)
	}
	return nil
}

// commit writes changes learned from peers, collections and metadata.
func (d *disk) commit(node string, puts []Entry, removes []KeyVersion, clock, floor Version, indexCeil uint64) error {
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		for i := range puts {
			if err := putIfNewer(b, &puts[i]); err != nil {
				return err
			}
		}
		for _, kv := range removes {
			if err := removeIfNotNewer(b, kv); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := raiseVersion(meta, metaClock, clock); err != nil {
			return err
		}
		if err := raiseVersion(meta, metaFloor, floor); err != nil {
			return err
		}
		if err := meta.Put(metaNode, []byte(node)); err != nil {
			return err
		}
		return meta.Put(metaIndex, binary.AppendUvarint(nil, indexCeil))
	})
	if err != nil {
		return fmt.Errorf("configsync: commit %s: %w", d.path, err)
	}
	return nil
}

func putIfNewer(b *bolt.Bucket, e *Entry) error {
	if old := b.Get([]byte(e.Key)); old != nil {
		if ov, err := decodeRecordVersion(old); err == nil {
			switch c := e.Version.Compare(ov); {
			case c < 0:
				return nil
			case c == 0:
				if oe, err := decodeRecord([]byte(e.Key), old); err == nil && !e.Newer(oe) {
					return nil
				}
			}
		}
	}
	return b.Put([]byte(e.Key), encodeRecord(e))
}

func removeIfNotNewer(b *bolt.Bucket, kv KeyVersion) error {
	old := b.Get([]byte(kv.Key))
	if old == nil {
		return nil
	}
	if ov, err := decodeRecordVersion(old); err == nil && ov.Compare(kv.Version) > 0 {
		return nil
	}
	return b.Delete([]byte(kv.Key))
}

func raiseVersion(meta *bolt.Bucket, name []byte, v Version) error {
	if v.IsZero() {
		return nil
	}
	if old, err := decodeMetaVersion(meta.Get(name)); err == nil && old.Compare(v) >= 0 {
		return nil
	}
	return meta.Put(name, encodeMetaVersion(v))
}

func encodeMetaVersion(v Version) []byte {
	b := binary.AppendVarint(nil, v.Wall)
	b = binary.AppendUvarint(b, uint64(v.Logical))
	return append(b, v.Node...)
}

func decodeMetaVersion(b []byte) (Version, error) {
	if b == nil {
		return Version{}, nil
	}
	wall, n := binary.Varint(b)
	if n <= 0 {
		return Version{}, errors.New("bad wall time")
	}
	l, m := binary.Uvarint(b[n:])
	if m <= 0 || l > math.MaxUint32 {
		return Version{}, errors.New("bad logical counter")
	}
	return Version{Wall: wall, Logical: uint32(l), Node: string(b[n+m:])}, nil
}

// encodeRecord: format | wall | logical | node | flags | deleted | value.
func encodeRecord(e *Entry) []byte {
	b := make([]byte, 0, 32+len(e.Version.Node)+len(e.Value))
	b = append(b, recordFormat)
	b = binary.AppendVarint(b, e.Version.Wall)
	b = binary.AppendUvarint(b, uint64(e.Version.Logical))
	b = binary.AppendUvarint(b, uint64(len(e.Version.Node)))
	b = append(b, e.Version.Node...)
	b = binary.AppendUvarint(b, e.Flags)
	if e.Deleted {
		return append(b, 1)
	}
	b = append(b, 0)
	return append(b, e.Value...)
}

type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errors.New("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) version() Version {
	if r.err == nil && (len(r.b) == 0 || r.b[0] != recordFormat) {
		r.err = errors.New("unknown record format")
		return Version{}
	}
	if r.err == nil {
		r.b = r.b[1:]
	}
	v := Version{Wall: r.varint()}
	l := r.uvarint()
	if l > math.MaxUint32 {
		r.err = errors.New("logical counter exceeds 32 bits")
	}
	v.Logical = uint32(l)
	n := r.uvarint()
	if r.err == nil && (n == 0 || n > MaxNodeBytes || n > uint64(len(r.b))) {
		r.err = fmt.Errorf("bad node name length %d", n)
	}
	if r.err != nil {
		return Version{}
	}
	v.Node = string(r.b[:n])
	r.b = r.b[n:]
	return v
}

func decodeRecordVersion(b []byte) (Version, error) {
	r := recordReader{b: b}
	v := r.version()
	return v, r.err
}

func decodeRecord(key, b []byte) (Entry, error) {
	r := recordReader{b: b}
	e := Entry{Key: string(key), Version: r.version(), Flags: r.uvarint()}
	if r.err == nil {
		switch {
		case len(r.b) == 0:
			r.err = errors.New("truncated")
		case r.b[0] == 1 && len(r.b) == 1:
			e.Deleted = true
		case r.b[0] == 0:
			if len(r.b) > 1 {
				e.Value = append([]byte(nil), r.b[1:]...)
			}
		default:
			r.err = errors.New("bad deleted flag")
		}
	}
	if r.err == nil {
		if err := checkKeyForm(e.Key); err != nil {
			r.err = err
		}
	}
	if r.err != nil {
		return Entry{}, fmt.Errorf("record of key %q: %v", key, r.err)
	}
	return e, nil
}
