package configsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/murmurhq/murmur/internal/clock"
)

func openAt(t *testing.T, dir string, clk clock.Clock) *Store {
	t.Helper()
	return openCfg(t, dir, clk, 0)
}

// crashCopy copies the database and the journal of a store that is
// still open, as a crash of its process would leave them: what was
// written, synced or not.
func crashCopy(t *testing.T, dir string) string {
	t.Helper()
	return copyFiles(t, dir, DBFile, JournalFile)
}

// powerLossCopy copies only the database of a store that is still open,
// as a machine crash could leave the data dir: only what was fsynced is
// guaranteed there, and the journal is never synced.
func powerLossCopy(t *testing.T, dir string) string {
	t.Helper()
	return copyFiles(t, dir, DBFile)
}

func copyFiles(t *testing.T, dir string, names ...string) string {
	t.Helper()
	dst := t.TempDir()
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) && name == JournalFile {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestPersistRestartRestoresEverything(t *testing.T) {
	dir := t.TempDir()
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := openAt(t, dir, fake)
	ctx := context.Background()
	s.Put(ctx, "a", []byte("1"), 7)
	s.Put(ctx, "b", []byte("2"), 0)
	s.Put(ctx, "gone", []byte("x"), 0)
	s.Delete(ctx, "gone")
	s.Put(ctx, "early", []byte("x"), 0)
	s.Delete(ctx, "early")
	fake.Advance(2 * time.Hour)
	s.Put(ctx, "tomb", []byte("x"), 0)
	s.Delete(ctx, "tomb") // kept: younger than the TTL
	if n := s.GC(); n != 2 {
		t.Fatalf("GC collected %d", n)
	}
	// A change learned from a peer, committed asynchronously.
	s.process(Encode(&Update{From: "peer", Entries: []Entry{{Key: "remote", Value: []byte("r"), Version: Version{Wall: fake.Now().UnixMilli() + 5000, Node: "peer"}}}}))
	before := s.Stats()
	lastIssued, _ := s.Put(ctx, "last", []byte("l"), 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart with the wall clock set back 30s (within kv.max_clock_skew;
	// beyond it, see TestPersistClockBeyondBoundRestamped).
	fake2 := clock.NewFake(fake.Now().Add(-30 * time.Second))
	s2 := openAt(t, dir, fake2)
	defer s2.Close()
	after := s2.Stats()
	if after.Keys != before.Keys+1 || after.Tombstones != 1 || after.Root == 0 {
		t.Fatalf("restored %d keys / %d tombstones, want %d / 1", after.Keys, after.Tombstones, before.Keys+1)
	}
	for k, v := range map[string]string{"a": "1", "b": "2", "remote": "r", "last": "l"} {
		r, err := s2.Get(k)
		if err != nil || string(r.Value) != v {
			t.Fatalf("Get(%s) = %+v, %v", k, r, err)
		}
	}
	if r, _ := s2.Get("a"); r.Flags != 7 {
		t.Fatal("flags lost")
	}
	if after.Floor != before.Floor || after.Floor.IsZero() {
		t.Fatalf("floor %v, was %v", after.Floor, before.Floor)
	}
	if after.Index <= before.Index {
		t.Fatalf("index went back from %d to %d", before.Index, after.Index)
	}
	// The floor still refuses a stale copy of a collected key.
	s2.process(Encode(&Update{From: "peer", Entries: []Entry{{Key: "gone", Value: []byte("x"), Version: Version{Wall: 1_700_000_000_000, Node: "n1"}}}}))
	if _, err := s2.Get("gone"); !errors.Is(err, ErrNotFound) {
		t.Fatal("collected key resurrected after restart")
	}
	// The clock never goes backwards, though the wall clock did.
	r, err := s2.Put(ctx, "after", []byte("x"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Version.after(lastIssued.Version) || !r.Version.after(Version{Wall: fake.Now().UnixMilli() + 5000}) {
		t.Fatalf("version after restart %v, issued before %v", r.Version, lastIssued.Version)
	}
}

func TestPersistConcurrentPutsDurable(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, nil)
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			_, err := s.Put(context.Background(), fmt.Sprintf("k%02d", i), []byte(fmt.Sprint(i)), 0)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Without Close: what Put acknowledged is on disk.
	s2 := openAt(t, crashCopy(t, dir), nil)
	defer s2.Close()
	if n := len(s2.Keys("k")); n != 16 {
		t.Fatalf("%d of 16 acknowledged writes survived", n)
	}
}

// A local write with no other in progress commits at once: it does not
// wait out bbolt's batch delay (here an hour) for writers that are not
// coming, and it is durable when Put returns.
func TestPersistLonePutCommitsWithoutBatchDelay(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Node: "n1", DataDir: dir, BatchDelay: time.Hour, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(context.Background(), fmt.Sprintf("k%d", i), []byte("v"), 0)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("put %d still waiting after 30s: a lone write waited for the batch delay", i)
		}
	}
	s2 := openAt(t, crashCopy(t, dir), nil)
	defer s2.Close()
	if n := len(s2.Keys("k")); n != 3 {
		t.Fatalf("%d of 3 acknowledged writes on disk", n)
	}
}

func TestPersistRemoteChangesCommittedInBackground(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	s := startStore(t, nil, Config{Node: "n1", DataDir: dir, CommitDelay: time.Millisecond})
	s.HandleMessage(Encode(&Update{From: "peer", Entries: []Entry{{Key: "remote", Value: []byte("r"), Version: Version{Wall: 1, Node: "peer"}}}}))
	eventually(t, "commit of a remote change", func() bool {
		_, err := s.Get("remote")
		return err == nil && s.Stats().Pending == 0
	})
	s2 := openAt(t, crashCopy(t, dir), nil)
	defer s2.Close()
	if _, err := s2.Get("remote"); err != nil {
		t.Fatalf("remote change not on disk: %v", err)
	}
}

// TestPersistRemoteCommitDelay: a change learned from a peer reaches the
// journal CommitDelay (default 100ms) after it arrived, not sooner, and
// the database in a checkpoint SyncDelay (default 1s) after that, not
// sooner; CommitKeys pending keys, or an index near its persisted
// ceiling, are checkpointed at once; Close checkpoints what is pending.
func TestPersistRemoteCommitDelay(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := startStore(t, nil, Config{Node: "n1", DataDir: dir, Clock: fake, TombstoneTTL: time.Hour, CommitKeys: 3})
	eventually(t, "GC ticker armed", func() bool { return fake.Waiters() == 1 })
	remote := func(keys ...string) {
		var es []Entry
		for _, k := range keys {
			es = append(es, Entry{Key: k, Value: []byte("r"), Version: Version{Wall: fake.Now().UnixMilli(), Node: "peer"}})
		}
		s.HandleMessage(Encode(&Update{From: "peer", Entries: es}))
		eventually(t, "remote change applied", func() bool {
			_, err := s.Get(keys[len(keys)-1])
			return err == nil
		})
	}
	onDisk := func(dir string, keys ...string) bool { return !slices.Contains(has(t, dir, 0, keys...), false) }
	committed := func(keys ...string) func() bool {
		return func() bool { return s.Stats().Pending == 0 && onDisk(crashCopy(t, dir), keys...) }
	}

	remote("a")
	eventually(t, "commit timer armed", func() bool { return fake.Waiters() == 2 })
	fake.Advance(DefaultConfig().CommitDelay - time.Millisecond)
	if fake.Waiters() != 2 {
		t.Fatal("the commit timer fired before CommitDelay")
	}
	if s.Stats().Pending != 1 || onDisk(crashCopy(t, dir), "a") {
		t.Fatal("a remote change was committed before CommitDelay")
	}
	fake.Advance(time.Millisecond)
	// Journaled: a crash of the process keeps it, a machine crash may not.
	eventually(t, "commit after CommitDelay", committed("a"))
	if st := s.Stats(); st.Unsynced != 1 || st.Journaled != 1 || onDisk(powerLossCopy(t, dir), "a") {
		t.Fatalf("after CommitDelay: %d unsynced, %d journaled, or already checkpointed", st.Unsynced, st.Journaled)
	}
	eventually(t, "checkpoint timer armed", func() bool { return fake.Waiters() == 2 })
	checkpoints := s.Stats().Checkpoints
	fake.Advance(DefaultConfig().SyncDelay - time.Millisecond)
	if s.Stats().Checkpoints != checkpoints {
		t.Fatal("checkpointed before SyncDelay")
	}
	fake.Advance(time.Millisecond)
	eventually(t, "checkpoint after SyncDelay", func() bool {
		return s.Stats().Unsynced == 0 && onDisk(powerLossCopy(t, dir), "a")
	})
	if n := s.Stats().Checkpoints; n != checkpoints+1 {
		t.Fatalf("%d checkpoints after SyncDelay, want 1", n-checkpoints)
	}

	remote("b", "c", "d") // CommitKeys: no need to wait, nor for SyncDelay
	eventually(t, "commit of CommitKeys keys without the clock moving", committed("b", "c", "d"))
	if !onDisk(powerLossCopy(t, dir), "b", "c", "d") {
		t.Fatal("CommitKeys keys were journaled, not checkpointed")
	}

	s.mu.Lock()
	s.indexCeil = s.st.Index() + indexLease/2 + 1
	s.mu.Unlock()
	remote("e") // the index reaches half the lease below the ceiling
	eventually(t, "commit of an index near its ceiling without the clock moving", committed("e"))
	if !onDisk(powerLossCopy(t, dir), "e") {
		t.Fatal("a raised index ceiling was journaled, not checkpointed")
	}
	s.mu.Lock()
	ceil, index := s.indexCeil, s.st.Index()
	s.mu.Unlock()
	if ceil < index+indexLease {
		t.Fatalf("index ceiling %d not raised (index %d)", ceil, index)
	}

	remote("f")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !onDisk(powerLossCopy(t, dir), "f") {
		t.Fatal("Close did not checkpoint a pending remote change")
	}
}

func TestPersistCorruptDatabase(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"garbage", func(t *testing.T, path string) {
			os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600)
		}, "not a bbolt database"},
		{"short", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("tiny"), 0o600)
		}, "too short"},
		{"bad record", func(t *testing.T, path string) {
			s, err := Open(Config{Node: "n1", DataDir: filepath.Dir(path)})
			if err != nil {
				t.Fatal(err)
			}
			s.Put(context.Background(), "ok", []byte("v"), 0)
			s.Close()
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketEntries).Put([]byte("broken"), []byte{1, 0xff}) })
			db.Close()
		}, `record of key "broken"`},
		{"no meta", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket(bucketEntries)
				return err
			})
			db.Close()
		}, "without meta"},
		{"future schema", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error {
				b, _ := tx.CreateBucket(bucketMeta)
				tx.CreateBucket(bucketEntries)
				return b.Put(metaSchema, []byte{99})
			})
			db.Close()
		}, "schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, DBFile)
			tc.setup(t, path)
			s, err := Open(Config{Node: "n1", DataDir: dir})
			if err == nil {
				s.Close()
				t.Fatal("Open of a corrupt database succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want ErrCorrupt naming %s and %q", err, path, tc.want)
			}
		})
	}
}

func TestPersistLockedByAnotherStore(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, nil)
	defer s.Close()
	_, err := Open(Config{Node: "n1", DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open = %v", err)
	}
}

// A store written while the wall clock was an hour ahead, reopened with
// the clock right: the persisted clock is not restored as it was; every
// entry held beyond the bound is stamped again now with its content
// kept, so nothing acknowledged is lost and every key is writable with a
// current version.
func TestPersistClockBeyondBoundRestamped(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Unix(1_700_000_000, 0)
	ahead := clock.NewFake(t0.Add(time.Hour))
	s := openAt(t, dir, ahead)
	ctx := context.Background()
	s.Put(ctx, "a", []byte("1"), 3)
	s.Put(ctx, "b", []byte("2"), 0)
	s.Put(ctx, "c", []byte("3"), 0)
	s.Delete(ctx, "c")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	right := clock.NewFake(t0)
	s = openAt(t, dir, right)
	st := s.Stats()
	if st.Restamped != 3 || st.Clock.Wall > t0.UnixMilli()+defaultMaxClockSkew.Milliseconds() {
		t.Fatalf("restamped %d, clock %v; want 3 entries restamped and the clock within the bound of %d", st.Restamped, st.Clock, t0.UnixMilli())
	}
	for k, v := range map[string]string{"a": "1", "b": "2"} {
		r, err := s.Get(k)
		if err != nil || string(r.Value) != v || r.Version.Wall != t0.UnixMilli() || r.Version.Node != "n1" {
			t.Fatalf("Get(%s) = %+v, %v; want %q restamped at %d", k, r, err, v, t0.UnixMilli())
		}
	}
	if r, _ := s.Get("a"); r.Flags != 3 {
		t.Fatal("flags lost in the restamp")
	}
	if _, err := s.Get("c"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a deleted key came back in the restamp")
	}
	r, err := s.Put(ctx, "a", []byte("new"), 0)
	if err != nil || r.Version.Wall != t0.UnixMilli() {
		t.Fatalf("put after restamp: %+v, %v", r, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The repair reached the disk: the next open restamps nothing, and the
	// put survived.
	s = openAt(t, dir, right)
	defer s.Close()
	if st := s.Stats(); st.Restamped != 0 {
		t.Fatalf("restamped %d again on the next open", st.Restamped)
	}
	if r, _ := s.Get("a"); string(r.Value) != "new" {
		t.Fatalf("Get(a) = %q after reopen, want the put after the restamp", r.Value)
	}
}

// A wall clock that steps back beyond the bound while the agent runs is
// repaired before the next write: the write is kept and wins.
func TestStoreClockStepBackRepairedBeforeWrite(t *testing.T) {
	dir := t.TempDir()
	fake := clock.NewFake(time.Unix(1_700_000_000, 0).Add(time.Hour))
	s := openAt(t, dir, fake)
	defer s.Close()
	ctx := context.Background()
	s.Put(ctx, "k", []byte("old"), 0)
	fake.Advance(-time.Hour) // the wall clock steps back
	r, err := s.Put(ctx, "k", []byte("new"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("k"); string(got.Value) != "new" || r.Version.Wall != fake.Now().UnixMilli() {
		t.Fatalf("after the clock stepped back an hour, Put returned %v and Get %q", r.Version, got.Value)
	}
}

// A store that started empty is incomplete: its floor does not cover keys
// written before it started, so a tombstone it collects is remembered as
// a mark. The mark must survive a restart, or an older copy of the key
// from a peer that missed the delete comes back (the checker's seed
// 1003624).
func TestIncompleteMarksSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := openAt(t, dir, fake)
	if s.st.CompleteFrom() == 0 {
		t.Fatal("a new store should be incomplete")
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	fake.Advance(2 * time.Hour)
	if n := s.GC(); n != 1 {
		t.Fatalf("GC collected %d, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openAt(t, dir, fake)
	defer s2.Close()
	// A copy written before the store started (so below completeFrom,
	// which the floor does not cover) and before the delete.
	stale := Entry{Key: "k", Value: []byte("stale"), Version: Version{Wall: 1_700_000_000_000 - 60_000, Node: "peer"}}
	s2.process(Encode(&Update{From: "peer", Entries: []Entry{stale}}))
	if r, err := s2.Get("k"); err == nil {
		t.Fatalf("a key this store deleted and collected came back after a restart: %+v", r)
	}
	// A newer write of the key is still accepted.
	fresh := Entry{Key: "k", Value: []byte("new"), Version: Version{Wall: fake.Now().UnixMilli(), Node: "peer"}}
	s2.process(Encode(&Update{From: "peer", Entries: []Entry{fresh}}))
	if r, err := s2.Get("k"); err != nil || string(r.Value) != "new" {
		t.Fatalf("Get(k) after a newer write = %+v, %v", r, err)
	}
}

// The marks bucket: written while incomplete, raised not lowered, deleted
// by the commit that finds the store complete, and checked on load.
func TestPersistMarksBucket(t *testing.T) {
	dir := t.TempDir()
	d, err := openDisk(dir, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.load(); err != nil {
		t.Fatal(err)
	}
	v := func(w int64) Version { return Version{Wall: w, Node: "n"} }
	commit := func(marks []KeyVersion, from int64) {
		t.Helper()
		if err := d.commit("n1", []*batch{{marks: marks, completeFrom: from}}, 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	loadMarks := func() map[string]Version {
		t.Helper()
		ds, err := d.load()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Version{}
		for _, m := range ds.marks {
			got[m.Key] = m.Version
		}
		return got
	}
	commit([]KeyVersion{{Key: "a", Version: v(5)}, {Key: "b", Version: v(7)}}, 100)
	commit([]KeyVersion{{Key: "a", Version: v(3)}, {Key: "b", Version: v(9)}}, 100)
	if got := loadMarks(); len(got) != 2 || got["a"] != v(5) || got["b"] != v(9) {
		t.Fatalf("marks = %v, want a@5 b@9", got)
	}

	// A record moved to another key fails its checksum, naming the key.
	err = d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMarks)
		return b.Put([]byte("c"), b.Get([]byte("a")))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.load(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `mark "c"`) || !strings.Contains(err.Error(), DBFile) {
		t.Fatalf("load of a moved mark: %v; want ErrCorrupt naming the file and mark \"c\"", err)
	}

	commit(nil, 0) // complete: the floor covers them
	if got := loadMarks(); len(got) != 0 {
		t.Fatalf("marks after the store became complete = %v", got)
	}
	d.close()
}
