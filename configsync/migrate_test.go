package configsync

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeSchema1 writes a store as the first release did: schema 1, format
// 1 records and meta values without checksums.
func writeSchema1(t *testing.T, path string, entries []Entry, clock, floor Version) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	legacy := func(e Entry) []byte {
		b := []byte{recordFormatV1}
		b = binary.AppendVarint(b, e.Version.Wall)
		b = binary.AppendUvarint(b, uint64(e.Version.Logical))
		b = binary.AppendUvarint(b, uint64(len(e.Version.Node)))
		b = append(b, e.Version.Node...)
		b = binary.AppendUvarint(b, e.Flags)
		if e.Deleted {
			return append(b, 1)
		}
		return append(append(b, 0), e.Value...)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		b, _ := tx.CreateBucket(bucketEntries)
		for _, e := range entries {
			b.Put([]byte(e.Key), legacy(e))
		}
		meta.Put(metaSchema, []byte{1})
		meta.Put(metaNode, []byte("n1"))
		meta.Put(metaClock, encodeMetaVersion(clock))
		meta.Put(metaFloor, encodeMetaVersion(floor))
		return meta.Put(metaIndex, binary.AppendUvarint(nil, 41))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A store written by the previous format opens: it is migrated to
// checksummed records, with every entry, the clock, the floor and the
// index kept.
func TestPersistMigratesSchema1(t *testing.T) {
	dir := t.TempDir()
	now := regressT0.UnixMilli()
	entries := []Entry{
		{Key: "a", Value: []byte("1"), Version: Version{Wall: now - 10, Node: "n1"}, Flags: 4},
		{Key: "gone", Version: Version{Wall: now - 5, Logical: 2, Node: "n2"}, Deleted: true},
	}
	clk, floor := Version{Wall: now - 1, Logical: 7, Node: "n1"}, Version{Wall: now - 100000, Node: "n2"}
	writeSchema1(t, filepath.Join(dir, DBFile), entries, clk, floor)
	s, err := Open(Config{Node: "n1", DataDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("open a schema 1 store: %v", err)
	}
	st := s.Stats()
	if st.Keys != 1 || st.Tombstones != 1 || st.Floor != floor || st.Clock.Compare(clk) < 0 || st.Index <= 41 {
		t.Fatalf("after migration: %+v", st)
	}
	if r, err := s.Get("a"); err != nil || string(r.Value) != "1" || r.Flags != 4 {
		t.Fatalf("Get(a) = %+v, %v", r, err)
	}
	s.Put(context.Background(), "b", []byte("2"), 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Migrated in place: every record now carries a checksum.
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		if s := tx.Bucket(bucketMeta).Get(metaSchema); !bytes.Equal(s, []byte{schemaVersion}) {
			t.Errorf("schema %v after migration", s)
		}
		return tx.Bucket(bucketEntries).ForEach(func(k, v []byte) error {
			if _, err := decodeRecord(k, v, false); err != nil {
				t.Errorf("record %q not migrated: %v", k, err)
			}
			return nil
		})
	})
	db.Close()
	s, err = Open(Config{Node: "n1", DataDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(s.Keys("")); n != 2 {
		t.Fatalf("%d keys after reopen", n)
	}
}

// A data dir whose store is missing, while the marker says it held one,
// is refused; without the marker it starts empty.
func TestPersistMissingStoreRefused(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, nil)
	s.Put(context.Background(), "k", []byte("v"), 0)
	s.Close()
	os.Remove(filepath.Join(dir, DBFile))
	if _, err := Open(Config{Node: "n1", DataDir: dir}); err == nil || !bytesContains(err.Error(), "missing") || !bytesContains(err.Error(), MarkerFile) {
		t.Fatalf("Open without the database: %v", err)
	}
	os.Remove(filepath.Join(dir, MarkerFile))
	s, err := Open(Config{Node: "n1", DataDir: dir})
	if err != nil {
		t.Fatalf("Open after the marker was removed: %v", err)
	}
	s.Close()
}

func bytesContains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

// FuzzCheckBoltFile: checkBoltFile never panics on any file, and a file it
// accepts is read by bbolt and load without a crash (an error at most).
func FuzzCheckBoltFile(f *testing.F) {
	path := filepath.Join(f.TempDir(), DBFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: 1024})
	if err != nil {
		f.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		b, _ := tx.CreateBucket(bucketEntries)
		meta.Put(metaSchema, []byte{schemaVersion})
		for i := range 8 {
			e := Entry{Key: string(rune('a' + i)), Value: bytes.Repeat([]byte{byte(i)}, i*4), Version: Version{Wall: int64(i), Node: "n"}}
			b.Put([]byte(e.Key), encodeRecord(&e))
		}
		return nil
	})
	db.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, DBFile)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if checkBoltFile(path) != nil {
			return
		}
		db, err := openBoltReadOnly(path)
		if err != nil {
			return
		}
		defer db.Close()
		(&disk{db: db, path: path}).load()
	})
}

func openBoltReadOnly(path string) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
}
