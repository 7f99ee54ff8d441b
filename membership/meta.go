package membership

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Node metadata travels in memberlist's alive messages, capped at
// memberlist.MetaMaxSize (512) bytes. It carries the user's [meta] table
// plus the agent's own header keys, which start with "murmur.".

const (
	metaVersion = 1
	// metaKeyProtocol is the Murmur protocol version a node speaks.
	metaKeyProtocol = "murmur.proto"
	// ProtocolVersion of Murmur's own messages (configsync, coordinates).
	ProtocolVersion = "1"
	metaMaxBytes    = 512
	metaMaxKeyBytes = 64
	// reservedPrefix starts the agent's own header keys.
	reservedPrefix = "murmur."
)

// EncodeMeta encodes m (sorted, length-prefixed) and checks the 512-byte
// limit, leaving room for the agent's header.
func EncodeMeta(m map[string]string) ([]byte, error) {
	for k, v := range m {
		if err := checkMetaKey(k); err != nil {
			return nil, err
		}
		if !utf8.ValidString(v) || hasControl(v) {
			return nil, fmt.Errorf("value of %q must be UTF-8 without control characters", k)
		}
	}
	all := maps.Clone(m)
	if all == nil {
		all = map[string]string{}
	}
	all[metaKeyProtocol] = ProtocolVersion
	buf := []byte{metaVersion}
	for _, k := range slices.Sorted(maps.Keys(all)) {
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
		buf = binary.AppendUvarint(buf, uint64(len(all[k])))
		buf = append(buf, all[k]...)
	}
	if len(buf) > metaMaxBytes {
		return nil, fmt.Errorf("encodes to %d bytes, the node metadata limit is %d", len(buf), metaMaxBytes)
	}
	return buf, nil
}

func checkMetaKey(k string) error {
	switch {
	case k == "":
		return errors.New("empty key")
	case len(k) > metaMaxKeyBytes:
		return fmt.Errorf("key %q is longer than %d bytes", k, metaMaxKeyBytes)
	case strings.HasPrefix(k, reservedPrefix):
		return fmt.Errorf("key %q: the prefix murmur. is reserved", k)
	}
	for _, r := range k {
		if r == '=' || r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return fmt.Errorf("key %q: use printable ASCII without spaces or '='", k)
		}
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// DecodeMeta parses node metadata from the network and returns the user's
// keys (the murmur.* header is dropped). Anything malformed yields an
// error and no partial map; a peer's bad metadata never panics the agent.
func DecodeMeta(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) > metaMaxBytes {
		return nil, fmt.Errorf("membership: node meta is %d bytes, limit %d", len(b), metaMaxBytes)
	}
	if b[0] != metaVersion {
		return nil, fmt.Errorf("membership: node meta version %d, want %d", b[0], metaVersion)
	}
	b = b[1:]
	m := map[string]string{}
	next := func() (string, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return "", errors.New("membership: node meta truncated")
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s, nil
	}
	for len(b) > 0 {
		k, err := next()
		if err != nil {
			return nil, err
		}
		v, err := next()
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(k, reservedPrefix) {
			m[k] = v
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}
