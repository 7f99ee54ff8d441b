package configsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	bolt "go.etcd.io/bbolt"
)

// Stored records and meta values, with their checksums.
//
// A record (format 2) is
//
//	format | wall (zig-zag varint) | logical | node length | node | flags |
//	deleted (0 or 1) | value | CRC-32C (4 bytes, little-endian)
//
// where the CRC covers the key and every byte before it, so a flipped bit
// anywhere in the key, version or value is found when the store loads.
// Format 1 (schema 1) had no CRC; it is read only to migrate.

const (
	recordFormatV1 = 1
	recordFormat   = 2
	crcSize        = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func recordCRC(key string, body []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, []byte(key)), castagnoli, body)
}

func encodeRecord(e *Entry) []byte {
	b := make([]byte, 0, 32+crcSize+len(e.Version.Node)+len(e.Value))
	b = append(b, recordFormat)
	b = binary.AppendVarint(b, e.Version.Wall)
	b = binary.AppendUvarint(b, uint64(e.Version.Logical))
	b = binary.AppendUvarint(b, uint64(len(e.Version.Node)))
	b = append(b, e.Version.Node...)
	b = binary.AppendUvarint(b, e.Flags)
	if e.Deleted {
		b = append(b, 1)
	} else {
		b = append(b, 0)
		b = append(b, e.Value...)
	}
	return binary.LittleEndian.AppendUint32(b, recordCRC(e.Key, b))
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

// version reads the format byte and the version.
func (r *recordReader) version() Version {
	if r.err == nil && (len(r.b) == 0 || (r.b[0] != recordFormat && r.b[0] != recordFormatV1)) {
		r.err = errors.New("unknown record format")
		return Version{}
	}
	if r.err == nil {
		r.b = r.b[1:]
	}
	v := Version{Wall: r.varint()}
	if r.err == nil {
		if err := checkWall(v.Wall); err != nil {
			r.err = err
		}
	}
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

// decodeRecordVersion reads only the version of a stored record (the
// write paths compare versions; every record was verified at load).
func decodeRecordVersion(b []byte) (Version, error) {
	r := recordReader{b: b}
	v := r.version()
	return v, r.err
}

// decodeRecord verifies and decodes a stored record. legacy accepts
// format 1 (schema 1, no checksum); otherwise only format 2.
func decodeRecord(key, b []byte, legacy bool) (Entry, error) {
	r := recordReader{b: b}
	switch {
	case len(b) == 0:
		r.err = errors.New("empty record")
	case b[0] == recordFormat:
		if len(b) < 1+crcSize {
			r.err = errors.New("truncated")
			break
		}
		body := b[:len(b)-crcSize]
		if got, want := binary.LittleEndian.Uint32(b[len(body):]), recordCRC(string(key), body); got != want {
			r.err = fmt.Errorf("checksum mismatch (stored %08x, computed %08x): the key or record was changed on disk", got, want)
		}
		r.b = body
	case b[0] == recordFormatV1 && legacy:
	default:
		r.err = fmt.Errorf("record format %d in a schema %d store", b[0], schemaVersion)
	}
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

// sealMeta appends a CRC-32C of the meta value's name and payload.
func sealMeta(name, payload []byte) []byte {
	crc := crc32.Update(crc32.Update(0, castagnoli, name), castagnoli, payload)
	return binary.LittleEndian.AppendUint32(append([]byte(nil), payload...), crc)
}

// openMeta verifies a sealed meta value and returns its payload.
func openMeta(name, b []byte) ([]byte, error) {
	if len(b) < crcSize {
		return nil, fmt.Errorf("meta value %q: truncated", name)
	}
	p := b[:len(b)-crcSize]
	crc := crc32.Update(crc32.Update(0, castagnoli, name), castagnoli, p)
	if binary.LittleEndian.Uint32(b[len(p):]) != crc {
		return nil, fmt.Errorf("meta value %q: checksum mismatch", name)
	}
	return p, nil
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
	if err := checkWall(wall); err != nil {
		return Version{}, err
	}
	l, m := binary.Uvarint(b[n:])
	if m <= 0 || l > math.MaxUint32 {
		return Version{}, errors.New("bad logical counter")
	}
	return Version{Wall: wall, Logical: uint32(l), Node: string(b[n+m:])}, nil
}

// markName is what a mark record's checksum covers besides its version:
// the key, so that a record moved to another key does not verify.
func markName(key []byte) []byte { return append([]byte("mark:"), key...) }

// encodeMark seals the version of the tombstone an incomplete store
// collected for key (the marks bucket; see disk.commit).
func encodeMark(key []byte, v Version) []byte {
	return sealMeta(markName(key), encodeMetaVersion(v))
}

// decodeMark verifies and decodes a mark record.
func decodeMark(key, b []byte) (Version, error) {
	p, err := openMeta(markName(key), b)
	if err != nil {
		return Version{}, err
	}
	if len(p) == 0 {
		return Version{}, errors.New("empty version")
	}
	return decodeMetaVersion(p)
}

// storedVersion reads a sealed meta version; a damaged one reads as zero
// (it was verified at load; the write paths then overwrite it).
func storedVersion(meta *bolt.Bucket, name []byte) Version {
	b := meta.Get(name)
	if b == nil {
		return Version{}
	}
	p, err := openMeta(name, b)
	if err != nil {
		return Version{}
	}
	v, _ := decodeMetaVersion(p)
	return v
}

func raiseVersion(meta *bolt.Bucket, name []byte, v Version) error {
	if v.IsZero() || storedVersion(meta, name).Compare(v) >= 0 {
		return nil
	}
	return meta.Put(name, sealMeta(name, encodeMetaVersion(v)))
}

// setVersion stores v as it is (a zero v removes the value).
func setVersion(meta *bolt.Bucket, name []byte, v Version) error {
	if v.IsZero() {
		return meta.Delete(name)
	}
	return meta.Put(name, sealMeta(name, encodeMetaVersion(v)))
}

func putIfNewer(b *bolt.Bucket, e *Entry) error {
	if old := b.Get([]byte(e.Key)); old != nil {
		if ov, err := decodeRecordVersion(old); err == nil {
			switch c := e.Version.Compare(ov); {
			case c < 0:
				return nil
			case c == 0:
				if oe, err := decodeRecord([]byte(e.Key), old, false); err == nil && !e.Newer(oe) {
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
