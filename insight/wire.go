package insight

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/query"
)

// keyVersion is one agent's answer about a key: flags, then the version
// (varint wall ms, uvarint logical, uvarint-length origin), then when
// flagged the unix ms it was applied at (varint).
type keyVersion struct {
	has, deleted bool
	version      configsync.Version
	applied      time.Time // zero: not remembered
}

const (
	kvHas     = 1
	kvDeleted = 2
	kvApplied = 4
)

func (k keyVersion) encode() []byte {
	var flags byte
	if k.has {
		flags |= kvHas
	}
	if k.deleted {
		flags |= kvDeleted
	}
	if !k.applied.IsZero() {
		flags |= kvApplied
	}
	b := []byte{flags}
	b = binary.AppendVarint(b, k.version.Wall)
	b = binary.AppendUvarint(b, uint64(k.version.Logical))
	b = binary.AppendUvarint(b, uint64(len(k.version.Node)))
	b = append(b, k.version.Node...)
	if !k.applied.IsZero() {
		b = binary.AppendVarint(b, k.applied.UnixMilli())
	}
	return b
}

var errKeyVersion = errors.New("insight: malformed key version answer")

func decodeKeyVersion(b []byte) (keyVersion, error) {
	if len(b) < 1 {
		return keyVersion{}, fmt.Errorf("%w: empty", errKeyVersion)
	}
	flags := b[0]
	if flags&^(kvHas|kvDeleted|kvApplied) != 0 {
		return keyVersion{}, fmt.Errorf("%w: unknown flags %#x", errKeyVersion, flags)
	}
	k := keyVersion{has: flags&kvHas != 0, deleted: flags&kvDeleted != 0}
	b = b[1:]
	wall, w := binary.Varint(b)
	if w <= 0 || wall < 0 {
		return keyVersion{}, fmt.Errorf("%w: wall time", errKeyVersion)
	}
	b = b[w:]
	logical, w := binary.Uvarint(b)
	if w <= 0 || logical > 1<<32-1 {
		return keyVersion{}, fmt.Errorf("%w: logical counter", errKeyVersion)
	}
	b = b[w:]
	n, w := binary.Uvarint(b)
	if w <= 0 || n > query.MaxNodeName || n > uint64(len(b)-w) {
		return keyVersion{}, fmt.Errorf("%w: origin length", errKeyVersion)
	}
	k.version = configsync.Version{Wall: wall, Logical: uint32(logical), Node: string(b[w : w+int(n)])}
	b = b[w+int(n):]
	if flags&kvApplied != 0 {
		ms, w := binary.Varint(b)
		if w <= 0 || ms <= 0 {
			return keyVersion{}, fmt.Errorf("%w: applied time", errKeyVersion)
		}
		k.applied = time.UnixMilli(ms)
		b = b[w:]
	}
	if len(b) > 0 {
		return keyVersion{}, fmt.Errorf("%w: %d trailing bytes", errKeyVersion, len(b))
	}
	return k, nil
}
