package configsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// On-disk layout (bbolt), schema 2:
//
//	bucket "entries": key → record (see record.go): format 2, version,
//	                  flags, deleted, value, CRC-32C of key and record
//	bucket "meta":    "schema" → 2 (one byte)
//	                  "node"   → node name that wrote the file
//	                  "clock"  → greatest version issued or observed
//	                  "floor"  → tombstone floor
//	                  "index"  → modification index ceiling (see indexLease)
//	                  "complete" → State.CompleteFrom, when not 0
//	                  "journal" → the id of the journal whose records are
//	                              not yet in this file (journal.go)
//	                  (each meta value but the schema ends in a CRC-32C of
//	                  its name and payload)
//
// Schema 1 (records and meta values without checksums) is migrated to 2
// when opened. Before bbolt maps a file, checkBoltFile verifies its page
// structure; every record and meta value is then verified as it loads, so
// any corruption is an ErrCorrupt error naming the file (and the key),
// never a crash or a silently different value.
//
// A marker file (MarkerFile) beside the database says the data dir holds
// a store: if the database is then missing or empty, Open refuses with
// ErrMissing instead of starting empty.
//
// Local writes go through db.Batch (group commit, fsynced before Put
// returns), or db.Update when no other local write is in progress;
// changes learned from peers through the journal (journal.go) and then a
// checkpoint's db.Update, or a journal replay's at Open. All of them
// write an entry only if it is newer than the stored one and remove one
// only if it is not newer than the removed version, so the order in
// which the paths commit does not matter. A clock repair (replace)
// writes restamped entries, which are older than the stored ones, over
// them unconditionally, before any local write may continue.

var (
	bucketEntries = []byte("entries")
	bucketMeta    = []byte("meta")
	// bucketMarks holds, while the store is incomplete (metaComplete set),
	// the version of every tombstone it collected, by key: its floor does
	// not cover versions written before it started empty, so without them
	// a restart would forget those deletes (State.RestoreMarks). Deleted
	// in the commit that finds the store complete. Optional: a store
	// without it has no marks.
	bucketMarks  = []byte("marks")
	metaSchema   = []byte("schema")
	metaNode     = []byte("node")
	metaClock    = []byte("clock")
	metaFloor    = []byte("floor")
	metaIndex    = []byte("index")
	metaComplete = []byte("complete")
	metaJournal  = []byte("journal")
)

const (
	schemaVersion = 2
	// indexLease: the persisted index is a ceiling this far above the
	// live index, raised before the index gets near it. A restart resumes
	// above the ceiling, so the index never goes backwards even when the
	// latest changes were not yet committed.
	indexLease = 1 << 20
)

// MarkerFile is written beside DBFile once a store has been opened in a
// data dir. While it exists, a missing or empty DBFile is an error
// (ErrMissing): the store was lost, and starting empty would hide that.
// Delete it to start with an empty store that is rebuilt from peers.
const MarkerFile = "configsync.present"

type disk struct {
	db     *bolt.DB
	path   string
	marker string
	// local counts the local writes in writeLocal; shared is when one
	// last found another in progress (unix nanoseconds; see writeLocal).
	local  atomic.Int32
	shared atomic.Int64
	// soloAfter is how long writes must have been alone before a lone one
	// skips the batch: 10 batch delays.
	soloAfter time.Duration
}

func openDisk(dir string, batchDelay time.Duration) (*disk, error) {
	path, marker := filepath.Join(dir, DBFile), filepath.Join(dir, MarkerFile)
	fi, statErr := os.Stat(path)
	_, markErr := os.Stat(marker)
	switch {
	case statErr != nil && !errors.Is(statErr, fs.ErrNotExist):
		return nil, fmt.Errorf("configsync: open %s: %w", path, statErr)
	case (statErr != nil || fi.Size() == 0) && markErr == nil:
		what := "missing"
		if statErr == nil {
			what = "empty"
		}
		return nil, fmt.Errorf("%w: %s is %s, but %s says this data dir held a store: restore the file from a backup, or delete %s to start with an empty store rebuilt from peers",
			ErrMissing, path, what, marker, marker)
	case statErr == nil && fi.Size() > 0:
		// bbolt maps whatever is there and trusts it; verify first.
		if err := checkBoltFile(path); err != nil {
			return nil, err
		}
	}
	db, err := openBolt(path)
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("configsync: open %s: database is locked by another process", path)
		case errors.Is(err, ErrCorrupt):
			return nil, err
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
			return nil, fmt.Errorf("%w: open %s: %v", ErrCorrupt, path, err)
		}
		if _, named := errors.AsType[*fs.PathError](err); named {
			return nil, fmt.Errorf("configsync: %w", err) // it names the path already
		}
		return nil, fmt.Errorf("configsync: open %s: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	return &disk{db: db, path: path, marker: marker, soloAfter: 10 * batchDelay}, nil
}

// openBolt opens the database; a fault or panic inside bbolt (a file
// changed between the check and the map) is an ErrCorrupt error.
func openBolt(path string) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: open %s: %v", ErrCorrupt, path, p)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
}

// markHeld writes the marker file (see MarkerFile).
func (d *disk) markHeld() error {
	if _, err := os.Stat(d.marker); err == nil {
		return nil
	}
	text := "This data dir holds Murmur's replicated store in " + DBFile + ".\n" +
		"While this file exists, agentd refuses to start if " + DBFile + " is missing or empty.\n" +
		"Delete it to start with an empty store rebuilt from peers (docs/consistency.md).\n"
	if err := os.WriteFile(d.marker, []byte(text), 0o600); err != nil {
		return fmt.Errorf("configsync: write %s: %w", d.marker, err)
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
	completeFrom int64
	journalID    uint64
	entries      []Entry
	marks        []KeyVersion
	migrated     int  // schema the file was migrated from (0: none)
	fresh        bool // a new database
}

// load reads the whole database, creating the buckets of a new one and
// migrating an older schema. Any undecodable content or checksum mismatch
// is an error wrapping ErrCorrupt that names the file (and the key): a
// store is never silently emptied or changed.
func (d *disk) load() (ds diskState, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		// bbolt panics on some page corruptions checkBoltFile does not
		// see (none is known); keep the promise of an error anyway.
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: read %s: %v", ErrCorrupt, d.path, p)
		}
	}()
	fresh := false
	schema := byte(schemaVersion)
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
		if s := meta.Get(metaSchema); len(s) != 1 || s[0] < 1 || s[0] > schemaVersion {
			return fmt.Errorf("schema %v, want 1 to %d", s, schemaVersion)
		} else {
			schema = s[0]
		}
		if entries == nil {
			return errors.New("missing entries bucket")
		}
		get := func(name []byte) ([]byte, error) {
			b := meta.Get(name)
			if b == nil || schema == 1 {
				return b, nil
			}
			return openMeta(name, b)
		}
		node, err := get(metaNode)
		if err != nil {
			return err
		}
		ds.node = string(node)
		b, err := get(metaClock)
		if err != nil {
			return err
		}
		if ds.clock, err = decodeMetaVersion(b); err != nil {
			return fmt.Errorf("clock: %v", err)
		}
		if b, err = get(metaFloor); err != nil {
			return err
		}
		if ds.floor, err = decodeMetaVersion(b); err != nil {
			return fmt.Errorf("floor: %v", err)
		}
		if b, err = get(metaIndex); err != nil {
			return err
		} else if b != nil {
			v, n := binary.Uvarint(b)
			if n != len(b) {
				return errors.New("index: bad varint")
			}
			ds.index = v
		}
		if b, err = get(metaComplete); err != nil {
			return err
		} else if b != nil {
			v, n := binary.Varint(b)
			if n != len(b) || checkWall(v) != nil {
				return errors.New("complete: bad time")
			}
			ds.completeFrom = v
		}
		if b, err = get(metaJournal); err != nil {
			return err
		} else if b != nil {
			if len(b) != 8 {
				return errors.New("journal: bad id")
			}
			ds.journalID = binary.LittleEndian.Uint64(b)
		}
		err = entries.ForEach(func(k, v []byte) error {
			e, err := decodeRecord(k, v, schema == 1)
			if err != nil {
				return err
			}
			ds.entries = append(ds.entries, e)
			return nil
		})
		if err != nil {
			return err
		}
		marks := tx.Bucket(bucketMarks)
		if marks == nil {
			return nil
		}
		return marks.ForEach(func(k, v []byte) error {
			ver, err := decodeMark(k, v)
			if err != nil {
				return fmt.Errorf("mark %q: %v", k, err)
			}
			ds.marks = append(ds.marks, KeyVersion{Key: string(k), Version: ver})
			return nil
		})
	})
	if err != nil {
		return ds, fmt.Errorf("%w: read %s: %v", ErrCorrupt, d.path, err)
	}
	ds.fresh = fresh
	switch {
	case fresh:
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
	case schema < schemaVersion:
		if err := d.migrate(&ds); err != nil {
			return ds, err
		}
		ds.migrated = int(schema)
	}
	return ds, nil
}

// migrate rewrites a schema 1 store (no checksums) as schema 2, in one
// transaction.
func (d *disk) migrate(ds *diskState) error {
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		for i := range ds.entries {
			if err := b.Put([]byte(ds.entries[i].Key), encodeRecord(&ds.entries[i])); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		for name, v := range map[string][]byte{"node": []byte(ds.node), "index": binary.AppendUvarint(nil, ds.index)} {
			if err := meta.Put([]byte(name), sealMeta([]byte(name), v)); err != nil {
				return err
			}
		}
		for name, v := range map[string]Version{"clock": ds.clock, "floor": ds.floor} {
			if err := meta.Delete([]byte(name)); err != nil {
				return err
			}
			if err := setVersion(meta, []byte(name), v); err != nil {
				return err
			}
		}
		return meta.Put(metaSchema, []byte{schemaVersion})
	})
	if err != nil {
		return fmt.Errorf("configsync: migrate %s to schema %d: %w", d.path, schemaVersion, err)
	}
	return nil
}

// writeLocal makes local writes durable (group-committed, fsynced).
//
// A write with no other local write in progress, when none has had
// company for soloAfter, commits at once (db.Update): bbolt's Batch would
// hold it for MaxBatchDelay waiting for company that is not coming, about
// 1 ms of a sequential put's 2-3 ms. Under concurrent writers the count
// drops to zero for an instant after every batch; a write that took the
// lone path then would cost a commit of its own beside the next batch's
// (measured: 16 clients 10 % slower), so once writes meet, all of them
// batch until they have been alone for soloAfter. Both paths commit and
// fsync before returning.
func (d *disk) writeLocal(entries []Entry, clock Version) error {
	write := d.db.Batch
	now := time.Now().UnixNano()
	if d.local.Add(1) == 1 {
		if time.Duration(now-d.shared.Load()) > d.soloAfter {
			write = d.db.Update
		}
	} else {
		d.shared.Store(now)
	}
	defer d.local.Add(-1)
	err := write(func(tx *bolt.Tx) error {
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

// commit writes batches of changes learned from peers and collections
// (see batch), in order, with the index ceiling and the journal id: a
// checkpoint. Its fsync makes every journal record before it durable, so
// the new id retires them.
func (d *disk) commit(node string, batches []*batch, indexCeil, journalID uint64) error {
	err := d.db.Update(func(tx *bolt.Tx) error {
		for _, b := range batches {
			if err := applyBatch(tx, b); err != nil {
				return err
			}
		}
		return sealCheckpoint(tx, node, indexCeil, journalID)
	})
	if err != nil {
		return fmt.Errorf("configsync: commit %s: %w", d.path, err)
	}
	return nil
}

// applyBatch writes a batch's entries (if newer), removals (if not
// newer), clock and floor (raised), and completeness with its marks; a
// complete store (completeFrom 0) deletes its marks.
func applyBatch(tx *bolt.Tx, bt *batch) error {
	b := tx.Bucket(bucketEntries)
	for i := range bt.puts {
		if err := putIfNewer(b, &bt.puts[i]); err != nil {
			return err
		}
	}
	for _, kv := range bt.removes {
		if err := removeIfNotNewer(b, kv); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if err := raiseVersion(meta, metaClock, bt.clock); err != nil {
		return err
	}
	if err := raiseVersion(meta, metaFloor, bt.floor); err != nil {
		return err
	}
	if bt.completeFrom == 0 {
		if err := meta.Delete(metaComplete); err != nil {
			return err
		}
		if tx.Bucket(bucketMarks) != nil {
			return tx.DeleteBucket(bucketMarks)
		}
		return nil
	}
	if err := meta.Put(metaComplete, sealMeta(metaComplete, binary.AppendVarint(nil, bt.completeFrom))); err != nil {
		return err
	}
	return putMarks(tx, bt.marks)
}

// sealCheckpoint writes the node name, the index ceiling and the journal
// id.
func sealCheckpoint(tx *bolt.Tx, node string, indexCeil, journalID uint64) error {
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(metaNode, sealMeta(metaNode, []byte(node))); err != nil {
		return err
	}
	if err := meta.Put(metaIndex, sealMeta(metaIndex, binary.AppendUvarint(nil, indexCeil))); err != nil {
		return err
	}
	return meta.Put(metaJournal, sealMeta(metaJournal, binary.LittleEndian.AppendUint64(nil, journalID)))
}

// putMarks stores marks, each raising the key's stored one.
func putMarks(tx *bolt.Tx, marks []KeyVersion) error {
	if len(marks) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketMarks)
	if err != nil {
		return err
	}
	for _, m := range marks {
		k := []byte(m.Key)
		if old := b.Get(k); old != nil {
			if ov, err := decodeMark(k, old); err == nil && ov.Compare(m.Version) >= 0 {
				continue
			}
		}
		if err := b.Put(k, encodeMark(k, m.Version)); err != nil {
			return err
		}
	}
	return nil
}

// replace writes a clock repair (State.Restamp): the entries over the
// stored ones whatever their versions, and the clock and floor as they
// are now, lowered.
func (d *disk) replace(entries []Entry, clock, floor Version) error {
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		for i := range entries {
			if err := b.Put([]byte(entries[i].Key), encodeRecord(&entries[i])); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := setVersion(meta, metaClock, clock); err != nil {
			return err
		}
		return setVersion(meta, metaFloor, floor)
	})
	if err != nil {
		return fmt.Errorf("configsync: write clock repair to %s: %w", d.path, err)
	}
	return nil
}
