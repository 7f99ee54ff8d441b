package keyring

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The keyring's questions and answers (inside query frames of kind Kind)
// and the keyring file. Both decoders bound every length before they
// allocate and name what was wrong.
//
// Request: op byte, key length byte, key (empty for list).
// Answer:  key count byte, then each key as length byte + key, primary
// first (a refusal travels as the query's error answer).

const (
	// MaxKeys bounds a keyring: memberlist tries every key on every
	// packet, so a long ring costs CPU on the gossip path.
	MaxKeys = 16
	// maxFileBytes bounds the keyring file.
	maxFileBytes = 64 << 10
)

// Op is an operation on the keyring (the request's op byte).
type Op byte

// Operations.
const (
	OpList    Op = 'L'
	OpInstall Op = 'I'
	OpUse     Op = 'U'
	OpRemove  Op = 'R'
)

func (o Op) String() string {
	switch o {
	case OpList:
		return "list"
	case OpInstall:
		return "install"
	case OpUse:
		return "use"
	case OpRemove:
		return "remove"
	}
	return fmt.Sprintf("op(%d)", byte(o))
}

// ErrMalformed marks a keyring message or file that does not decode.
var ErrMalformed = errors.New("keyring: malformed keyring data")

// DecodeKey decodes a gossip key: standard base64 of 16, 24 or 32 bytes.
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not valid base64: %w", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("decodes to %d bytes, want 16, 24 or 32", len(k))
}

func encodeRequest(op Op, key []byte) []byte {
	return append([]byte{byte(op), byte(len(key))}, key...)
}

func encodeAnswer(keys [][]byte) []byte {
	b := []byte{byte(len(keys))}
	for _, k := range keys {
		b = append(append(b, byte(len(k))), k...)
	}
	return b
}

// reader reads fields, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: keyring message: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (r *reader) byte1(what string) byte {
	if r.err == nil && len(r.b) == 0 {
		r.fail("%s: want 1 byte, 0 left", what)
	}
	if r.err != nil {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// key reads a gossip key field: empty (when allowed) or 16, 24 or 32
// bytes.
func (r *reader) key(what string, allowEmpty bool) []byte {
	n := int(r.byte1(what + " length"))
	switch {
	case r.err != nil:
		return nil
	case n == 0 && !allowEmpty:
		r.fail("%s is empty", what)
	case n != 0 && n != 16 && n != 24 && n != 32:
		r.fail("%s is %d bytes, want 16, 24 or 32", what, n)
	case n > len(r.b):
		r.fail("%s: want %d bytes, %d left", what, n, len(r.b))
	}
	if r.err != nil {
		return nil
	}
	k := bytes.Clone(r.b[:n])
	r.b = r.b[n:]
	return k
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

// decodeRequest decodes a request's question.
func decodeRequest(p []byte) (Op, []byte, error) {
	r := &reader{b: p}
	op := Op(r.byte1("op"))
	switch {
	case r.err != nil:
	case op == OpList, op == OpInstall, op == OpUse, op == OpRemove:
	default:
		r.fail("unknown op %d", byte(op))
	}
	key := r.key("key", op == OpList)
	if r.err == nil && op == OpList && len(key) != 0 {
		r.fail("list carries a key")
	}
	if err := r.end(); err != nil {
		return 0, nil, err
	}
	return op, key, nil
}

// decodeAnswer decodes a member's keys.
func decodeAnswer(p []byte) ([][]byte, error) {
	r := &reader{b: p}
	n := int(r.byte1("key count"))
	if r.err == nil && n > MaxKeys {
		r.fail("%d keys, at most %d", n, MaxKeys)
	}
	var keys [][]byte
	for i := 0; i < n && r.err == nil; i++ {
		keys = append(keys, r.key(fmt.Sprintf("keys[%d]", i), false))
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return keys, nil
}

// EncodeFile returns the keyring file's bytes for keys, primary first.
func EncodeFile(keys [][]byte) []byte {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = base64.StdEncoding.EncodeToString(k)
	}
	b, _ := json.Marshal(out)
	return append(b, '\n')
}

// DecodeFile decodes and checks a keyring file; errors wrap ErrMalformed
// and name what is wrong (the caller adds the path).
func DecodeFile(b []byte) ([][]byte, error) {
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes, a keyring file is at most 64 KiB", ErrMalformed, len(b))
	}
	var strs []string
	if err := json.Unmarshal(b, &strs); err != nil {
		return nil, fmt.Errorf("%w: want a JSON array of base64 keys, primary first: %w", ErrMalformed, err)
	}
	if len(strs) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrMalformed)
	}
	if len(strs) > MaxKeys {
		return nil, fmt.Errorf("%w: %d keys, at most %d", ErrMalformed, len(strs), MaxKeys)
	}
	keys := make([][]byte, 0, len(strs))
	for i, s := range strs {
		k, err := DecodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrMalformed, i, err)
		}
		for j, o := range keys {
			if bytes.Equal(o, k) {
				return nil, fmt.Errorf("%w: key %d repeats key %d", ErrMalformed, i, j)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}
