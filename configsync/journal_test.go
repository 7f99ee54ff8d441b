package configsync

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/clock"
	berrors "go.etcd.io/bbolt/errors"
)

func sampleBatches() []*batch {
	v := func(w int64, n string) Version { return Version{Wall: w, Logical: 3, Node: n} }
	return []*batch{
		{
			puts: []Entry{
				{Key: "a", Value: []byte("1"), Flags: 7, Version: v(1_700_000_000_000, "peer")},
				{Key: "gone", Deleted: true, Version: v(1_700_000_000_001, "peer")},
			},
			removes:      []KeyVersion{{Key: "old", Version: v(5, "n1")}, {Key: "marked", Version: v(6, "n2")}},
			marks:        []KeyVersion{{Key: "marked", Version: v(6, "n2")}},
			clock:        v(1_700_000_000_001, "n1"),
			floor:        v(4, "n1"),
			completeFrom: 1_700_000_000_000,
		},
		{clock: v(1_700_000_000_002, "n1")},
		{},
	}
}

// writeJournal encodes batches as a journal file with id.
func writeJournal(id uint64, batches []*batch) []byte {
	out := journalHeader(id)
	for _, b := range batches {
		p := encodeBatch(b)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(p)))
		out = binary.LittleEndian.AppendUint32(out, recordSum(id, p))
		out = append(out, p...)
	}
	return out
}

func TestJournalRoundTrip(t *testing.T) {
	want := sampleBatches()
	id, ok, got, tail := readJournal(writeJournal(42, want))
	if !ok || id != 42 || tail != nil {
		t.Fatalf("readJournal: id %d, ok %v, tail %v", id, ok, tail)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batches differ:\ngot  %+v\nwant %+v", got, want)
	}
	for i, b := range want {
		if bound, n := batchSizeBound(b), len(encodeBatch(b)); bound < n {
			t.Fatalf("batch %d: size bound %d below its encoding's %d bytes", i, bound, n)
		}
	}
}

// A damaged journal yields the records before the damage and an error
// that says where and what.
func TestJournalDamage(t *testing.T) {
	good := writeJournal(7, sampleBatches()[:2])
	first := journalHeaderLen + journalFrameLen + len(encodeBatch(sampleBatches()[0]))
	set := func(b []byte, off int, v byte) []byte {
		b = append([]byte(nil), b...)
		b[off] = v
		return b
	}
	garbage := append([]byte(nil), good[:first]...)
	garbage = binary.LittleEndian.AppendUint32(garbage, 3)
	garbage = binary.LittleEndian.AppendUint32(garbage, recordSum(7, []byte{9, 9, 9}))
	garbage = append(garbage, 9, 9, 9)
	tests := []struct {
		name      string
		data      []byte
		headerOK  bool
		records   int
		wantError string
	}{
		{"empty file", nil, false, 0, ""},
		{"short header", good[:10], false, 0, "header: 10 bytes"},
		{"not a journal", append([]byte("NOTMURMU"), good[8:]...), false, 0, "not a Murmur journal"},
		{"header bit flip", set(good, 9, good[9]^1), false, 0, "header: checksum mismatch"},
		{"torn frame", good[:first+5], true, 1, "record at byte " + strconv.Itoa(first) + ": truncated frame"},
		{"torn payload", good[:len(good)-1], true, 1, "record at byte " + strconv.Itoa(first) + ": length"},
		{"length beyond the limit", set(good, first+3, 0x7f), true, 1, "beyond the file or the limit"},
		{"payload bit flip", set(good, len(good)-1, good[len(good)-1]^1), true, 1, "record at byte " + strconv.Itoa(first) + ": checksum mismatch"},
		{"record of another journal", append(append([]byte(nil), good[:first]...), writeJournal(8, sampleBatches()[1:2])[journalHeaderLen:]...), true, 1, "checksum mismatch"},
		{"payload that is not a batch", garbage, true, 1, "record at byte " + strconv.Itoa(first) + ": "},
		{"zeros after the records", append(append([]byte(nil), good...), make([]byte, 64)...), true, 2, "record at byte " + strconv.Itoa(len(good)) + ": checksum mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ok, batches, tail := readJournal(tc.data)
			if ok != tc.headerOK || len(batches) != tc.records {
				t.Fatalf("header ok %v, %d records; want %v, %d (tail %v)", ok, len(batches), tc.headerOK, tc.records, tail)
			}
			if tc.wantError == "" {
				if tail != nil {
					t.Fatalf("tail error %v", tail)
				}
				return
			}
			if tail == nil || !strings.Contains(tail.Error(), tc.wantError) {
				t.Fatalf("tail error %v, want one containing %q", tail, tc.wantError)
			}
		})
	}
}

// FuzzReadJournal: any bytes read as a journal give an error or batches,
// never a panic, and what is accepted encodes back to a journal that
// reads the same.
func FuzzReadJournal(f *testing.F) {
	f.Add(writeJournal(1, sampleBatches()))
	f.Add(writeJournal(1, sampleBatches()[:1])[:60])
	f.Add([]byte(journalMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, ok, batches, _ := readJournal(data)
		if !ok {
			if len(batches) != 0 {
				t.Fatal("batches without a header")
			}
			return
		}
		_, _, again, tail := readJournal(writeJournal(id, batches))
		if tail != nil || len(again) != len(batches) {
			t.Fatalf("re-encoded journal: %d of %d batches, %v", len(again), len(batches), tail)
		}
		for i := range batches {
			if bound, n := batchSizeBound(batches[i]), len(encodeBatch(batches[i])); bound < n {
				t.Fatalf("batch %d: size bound %d below its encoding's %d bytes", i, bound, n)
			}
			if !reflect.DeepEqual(normBatch(again[i]), normBatch(batches[i])) {
				t.Fatalf("batch %d differs after re-encoding:\n%+v\n%+v", i, again[i], batches[i])
			}
		}
	})
}

// normBatch treats empty and nil values alike.
func normBatch(b *batch) *batch {
	c := *b
	c.puts = nil
	for _, e := range b.puts {
		if len(e.Value) == 0 {
			e.Value = nil
		}
		c.puts = append(c.puts, e)
	}
	return &c
}

// remoteEntry applies a change as if learned from a peer.
func remoteEntry(s *Store, e Entry) {
	s.process(Encode(&Update{From: "peer", Entries: []Entry{e}}))
}

// openCfg opens the store in dir with a clock and SyncDelay.
func openCfg(t *testing.T, dir string, clk clock.Clock, syncDelay time.Duration) *Store {
	t.Helper()
	s, err := Open(Config{Node: "n1", DataDir: dir, Clock: clk, TombstoneTTL: time.Hour, SyncDelay: syncDelay, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// has opens the store in dir and says which of keys it holds.
func has(t *testing.T, dir string, syncDelay time.Duration, keys ...string) []bool {
	t.Helper()
	s := openCfg(t, dir, nil, syncDelay)
	defer s.Close()
	var got []bool
	for _, k := range keys {
		_, err := s.Get(k)
		got = append(got, err == nil)
	}
	return got
}

// The journal's records survive a crash of the process and are replayed
// when the store opens; a machine crash may lose them (and nothing
// else); a torn last record loses that record only.
func TestJournalReplay(t *testing.T) {
	dir := t.TempDir()
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := openCfg(t, dir, fake, 0)
	defer s.Close()
	ver := func() Version { return Version{Wall: fake.Now().UnixMilli(), Node: "peer"} }
	remoteEntry(s, Entry{Key: "a", Value: []byte("1"), Version: ver()})
	if err := s.flush(false); err != nil {
		t.Fatal(err)
	}
	fake.Advance(time.Millisecond)
	remoteEntry(s, Entry{Key: "b", Value: []byte("2"), Version: ver()})
	if err := s.flush(false); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Journaled != 2 || st.Unsynced != 2 || st.Pending != 0 {
		t.Fatalf("%d journaled, %d unsynced, %d pending; want 2, 2, 0", st.Journaled, st.Unsynced, st.Pending)
	}

	crashed := crashCopy(t, dir)
	if got := has(t, crashed, 0, "a", "b"); !got[0] || !got[1] {
		t.Fatalf("after a crash of the process: a %v, b %v; want both", got[0], got[1])
	}
	// The replay was checkpointed: the keys are in the database now.
	if got := has(t, powerLossCopy(t, crashed), 0, "a", "b"); !got[0] || !got[1] {
		t.Fatalf("after the replay, the database holds a %v, b %v; want both", got[0], got[1])
	}
	if got := has(t, powerLossCopy(t, dir), 0, "a", "b"); got[0] || got[1] {
		t.Fatalf("after a machine crash that lost the journal: a %v, b %v; want neither (not checkpointed)", got[0], got[1])
	}

	torn := crashCopy(t, dir)
	path := filepath.Join(torn, JournalFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	if got := has(t, torn, 0, "a", "b"); !got[0] || got[1] {
		t.Fatalf("with the last record torn: a %v, b %v; want a only", got[0], got[1])
	}

	// A damaged header: the journal is ignored whole, with a warning.
	flipped := crashCopy(t, dir)
	data, err := os.ReadFile(filepath.Join(flipped, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	data[len(journalMagic)] ^= 1
	if err := os.WriteFile(filepath.Join(flipped, JournalFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := has(t, flipped, 0, "a", "b"); got[0] || got[1] {
		t.Fatalf("with the journal's header damaged: a %v, b %v; want neither", got[0], got[1])
	}

	// Without a journal (SyncDelay negative), a journal left from before
	// is replayed and removed.
	off := crashCopy(t, dir)
	if got := has(t, off, -1, "a", "b"); !got[0] || !got[1] {
		t.Fatalf("opened without a journal: a %v, b %v; want both", got[0], got[1])
	}
	if _, err := os.Stat(filepath.Join(off, JournalFile)); !os.IsNotExist(err) {
		t.Fatalf("the journal was not removed: %v", err)
	}
}

// A journal that does not belong to the database, because a checkpoint
// retired it or the database was replaced, is never replayed: here it
// would bring back a key that was deleted and collected since.
func TestJournalOfAnotherDatabaseIgnored(t *testing.T) {
	dir := t.TempDir()
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := openCfg(t, dir, fake, 0)
	defer s.Close()
	remoteEntry(s, Entry{Key: "k", Value: []byte("1"), Version: Version{Wall: fake.Now().UnixMilli(), Node: "peer"}})
	if err := s.flush(false); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.flush(true); err != nil {
		t.Fatal(err)
	}
	fake.Advance(time.Millisecond)
	if _, err := s.Delete(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	fake.Advance(2 * time.Hour)
	if n := s.GC(); n != 1 {
		t.Fatalf("GC collected %d, want 1", n)
	}
	if err := s.flush(true); err != nil {
		t.Fatal(err)
	}

	stale := powerLossCopy(t, dir)
	if err := os.WriteFile(filepath.Join(stale, JournalFile), old, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := has(t, stale, 0, "k"); got[0] {
		t.Fatal("a journal retired by a checkpoint was replayed: the collected key came back")
	}

	fresh := t.TempDir()
	if err := os.WriteFile(filepath.Join(fresh, JournalFile), old, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := has(t, fresh, 0, "k"); got[0] {
		t.Fatal("a journal was replayed into a new database")
	}
}

func TestJournalConfig(t *testing.T) {
	err := (Config{Node: "n1", CommitDelay: time.Second, SyncDelay: 500 * time.Millisecond}).Validate()
	if err == nil || !strings.Contains(err.Error(), "sync delay is 500ms, must be at least the commit delay (1s)") {
		t.Fatalf("Validate = %v", err)
	}
	if c := (Config{Node: "n1", CommitDelay: 2 * time.Second}).withDefaults(); c.SyncDelay != 2*time.Second || c.Validate() != nil {
		t.Fatalf("SyncDelay defaults to %v with a 2s CommitDelay (Validate: %v); want 2s", c.SyncDelay, c.Validate())
	}
	dir := t.TempDir()
	s := openCfg(t, dir, nil, -1)
	defer s.Close()
	remoteEntry(s, Entry{Key: "k", Value: []byte("1"), Version: Version{Wall: 1, Node: "peer"}})
	before := s.Stats().Checkpoints
	if err := s.flush(false); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Checkpoints != before+1 || st.Journaled != 0 {
		t.Fatalf("without a journal: %d checkpoints, %d journaled; want 1, 0", st.Checkpoints-before, st.Journaled)
	}
	if _, err := os.Stat(filepath.Join(dir, JournalFile)); !os.IsNotExist(err) {
		t.Fatalf("a journal file exists without a journal: %v", err)
	}
}

// A checkpoint that fails keeps what was journaled for the next one and
// journals what was not, so a crash of the process meanwhile loses
// nothing; the retry waits SyncDelay. Without a journal, a failed commit
// waits for the next change, as it did before the journal.
func TestJournalCheckpointFailure(t *testing.T) {
	checkLeaks(t)
	// The test closes the stores' databases under them: their last
	// commits, when they stop, fail.
	start := func(cfg Config) *Store {
		t.Helper()
		return startStoreEnding(t, nil, cfg, berrors.ErrDatabaseNotOpen)
	}
	dir := t.TempDir()
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := start(Config{Node: "n1", DataDir: dir, Clock: fake, TombstoneTTL: time.Hour})
	eventually(t, "GC ticker armed", func() bool { return fake.Waiters() == 1 })
	ver := func() Version { return Version{Wall: fake.Now().UnixMilli(), Node: "peer"} }
	s.HandleMessage(Encode(&Update{From: "peer", Entries: []Entry{{Key: "a", Value: []byte("1"), Version: ver()}}}))
	eventually(t, "commit timer armed", func() bool { return fake.Waiters() == 2 })
	fake.Advance(DefaultConfig().CommitDelay)
	eventually(t, "a journaled", func() bool { return s.Stats().Journaled == 1 })

	if err := s.disk.db.Close(); err != nil { // every commit fails from now on
		t.Fatal(err)
	}
	fake.Advance(time.Millisecond)
	s.HandleMessage(Encode(&Update{From: "peer", Entries: []Entry{{Key: "b", Value: []byte("2"), Version: ver()}}}))
	eventually(t, "b applied", func() bool { _, err := s.Get("b"); return err == nil })
	// The checkpoint of a, due at SyncDelay, takes b along and fails.
	fake.Advance(DefaultConfig().SyncDelay)
	eventually(t, "the failed checkpoint, and b journaled", func() bool {
		st := s.Stats()
		return st.CommitErrors == 1 && st.Journaled == 2 && st.Unsynced == 2 && st.Pending == 0
	})
	if got := has(t, crashCopy(t, dir), 0, "a", "b"); !got[0] || !got[1] {
		t.Fatalf("a crash of the process after the failed checkpoint keeps a %v, b %v; want both", got[0], got[1])
	}
	eventually(t, "the retry timer armed", func() bool { return fake.Waiters() == 2 })
	if n := s.Stats().CommitErrors; n != 1 {
		t.Fatalf("%d commit errors before the retry was due", n)
	}
	fake.Advance(DefaultConfig().SyncDelay)
	eventually(t, "the retry", func() bool { return s.Stats().CommitErrors == 2 })

	off := t.TempDir()
	s2 := start(Config{Node: "n1", DataDir: off, Clock: fake, TombstoneTTL: time.Hour, SyncDelay: -1})
	eventually(t, "GC tickers armed", func() bool { return fake.Waiters() == 3 })
	if err := s2.disk.db.Close(); err != nil {
		t.Fatal(err)
	}
	s2.HandleMessage(Encode(&Update{From: "peer", Entries: []Entry{{Key: "c", Value: []byte("3"), Version: ver()}}}))
	eventually(t, "commit timer armed", func() bool { return fake.Waiters() == 4 })
	fake.Advance(DefaultConfig().CommitDelay)
	eventually(t, "the failed commit, and no retry timer", func() bool {
		return s2.Stats().CommitErrors == 1 && fake.Waiters() == 3
	})
	if st := s2.Stats(); st.CommitErrors != 1 || st.Pending != 1 {
		t.Fatalf("without a journal: %d commit errors, %d pending; want 1, 1", st.CommitErrors, st.Pending)
	}
}
