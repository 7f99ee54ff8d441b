package configsync

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkChecksumPages isolates what the storage checksums cost a local
// write on disk: the transaction writeLocal commits for one put of 128 B
// (the record under a figure-5 key, and the raised clock in meta), with
// the CRC-32C trailers (as stored) and without them (the same bytes cut
// short), on bbolt with NoSync so that only the encoding and the pages
// count. Pages and bytes written per put are deterministic; ns/op is the
// CPU of encode + transaction without fsync.
//
//	go test -run '^$' -bench ChecksumPages -benchtime 5000x ./configsync/
func BenchmarkChecksumPages(b *testing.B) {
	for _, crc := range []bool{true, false} {
		name := "crc"
		if !crc {
			name = "nocrc"
		}
		b.Run(name, func(b *testing.B) {
			db, err := bolt.Open(filepath.Join(b.TempDir(), DBFile), 0o600, &bolt.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			if err := db.Update(func(tx *bolt.Tx) error {
				if _, err := tx.CreateBucket(bucketEntries); err != nil {
					return err
				}
				_, err := tx.CreateBucket(bucketMeta)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 128)
			start := db.Stats().TxStats
			i := 0
			for b.Loop() {
				v := Version{Wall: 1_700_000_000_000 + int64(i), Node: "write"}
				e := Entry{Key: fmt.Sprintf("bench/w/c1/00/%07d", i), Value: value, Version: v}
				err := db.Update(func(tx *bolt.Tx) error {
					rec, clk := encodeRecord(&e), sealMeta(metaClock, encodeMetaVersion(v))
					if !crc {
						rec, clk = rec[:len(rec)-crcSize], clk[:len(clk)-crcSize]
					}
					if err := tx.Bucket(bucketEntries).Put([]byte(e.Key), rec); err != nil {
						return err
					}
					return tx.Bucket(bucketMeta).Put(metaClock, clk)
				})
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			st := db.Stats().TxStats
			n := float64(b.N)
			b.ReportMetric(float64(st.GetWrite()-start.GetWrite())/n, "page-writes/op")
			b.ReportMetric(float64(st.GetPageAlloc()-start.GetPageAlloc())/n, "alloc-bytes/op")
			b.ReportMetric(float64(st.GetSpill()-start.GetSpill())/n, "spills/op")
			b.ReportMetric(float64(st.GetSplit()-start.GetSplit())/n, "splits/op")
			if err := db.View(func(tx *bolt.Tx) error {
				b.ReportMetric(float64(tx.Size())/n, "file-bytes/op")
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		})
	}
}
