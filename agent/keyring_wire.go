package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Keyring messages (msgKeyring) and the keyring file. Both decoders bound
// every length before they allocate and name what was wrong.

const (
	msgKeyring MsgType = 3

	keyringWireVersion = 1
	kindKeyringRequest = 'q'
	kindKeyringAnswer  = 'a'

	// maxKeyringKeys bounds a keyring: memberlist tries every key on
	// every packet, so a long ring costs CPU on the gossip path.
	maxKeyringKeys = 16
	// maxKeyringMessage bounds the text of an answer.
	maxKeyringMessage = 512
)

// keyringOp is the operation byte of a request.
type keyringOp byte

const (
	opList    keyringOp = 'L'
	opInstall keyringOp = 'I'
	opUse     keyringOp = 'U'
	opRemove  keyringOp = 'R'
)

func (o keyringOp) String() string {
	switch o {
	case opList:
		return "list"
	case opInstall:
		return "install"
	case opUse:
		return "use"
	case opRemove:
		return "remove"
	}
	return fmt.Sprintf("op(%d)", byte(o))
}

// ErrMalformedKeyring marks a keyring message or file that does not
// decode.
var ErrMalformedKeyring = errors.New("agent: malformed keyring data")

// keyringRequest asks a member to apply op (with key) and answer origin.
type keyringRequest struct {
	op     keyringOp
	id     uint64
	sentMs int64 // origin's wall clock, for the replay window
	origin string
	key    []byte // empty for list
}

// keyringAnswer is a member's answer to a request.
type keyringAnswer struct {
	id   uint64
	node string
	ok   bool
	msg  string
	keys [][]byte // after the op; primary first
}

func (r *keyringRequest) encode() []byte {
	b := []byte{keyringWireVersion, kindKeyringRequest, byte(r.op)}
	b = binary.BigEndian.AppendUint64(b, r.id)
	b = binary.BigEndian.AppendUint64(b, uint64(r.sentMs))
	b = appendShort(b, []byte(r.origin))
	return appendShort(b, r.key)
}

func (r *keyringAnswer) encode() []byte {
	b := []byte{keyringWireVersion, kindKeyringAnswer}
	b = binary.BigEndian.AppendUint64(b, r.id)
	b = appendShort(b, []byte(r.node))
	ok := byte(0)
	if r.ok {
		ok = 1
	}
	b = append(b, ok)
	msg := r.msg
	if len(msg) > maxKeyringMessage {
		msg = msg[:maxKeyringMessage]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	b = append(b, msg...)
	b = append(b, byte(len(r.keys)))
	for _, k := range r.keys {
		b = appendShort(b, k)
	}
	return b
}

// appendShort appends a byte-length-prefixed field (≤ 255 bytes).
func appendShort(b, field []byte) []byte {
	return append(append(b, byte(len(field))), field...)
}

// wireReader reads fields, remembering the first error.
type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: keyring message: %s", ErrMalformedKeyring, fmt.Sprintf(format, args...))
	}
}

func (r *wireReader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.fail("%s: want %d bytes, %d left", what, n, len(r.b))
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *wireReader) byte1(what string) byte {
	if b := r.bytes(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (r *wireReader) uint64(what string) uint64 {
	if b := r.bytes(8, what); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// short reads a byte-length-prefixed field of at most max bytes.
func (r *wireReader) short(what string, max int) []byte {
	n := int(r.byte1(what + " length"))
	if r.err == nil && n > max {
		r.fail("%s is %d bytes, at most %d", what, n, max)
		return nil
	}
	return r.bytes(n, what)
}

// key reads a gossip key field: empty or 16, 24 or 32 bytes.
func (r *wireReader) key(what string, allowEmpty bool) []byte {
	k := r.short(what, 32)
	if r.err == nil {
		switch len(k) {
		case 16, 24, 32:
		case 0:
			if !allowEmpty {
				r.fail("%s is empty", what)
			}
		default:
			r.fail("%s is %d bytes, want 16, 24 or 32", what, len(k))
		}
	}
	return bytes.Clone(k)
}

// decodeKeyringMsg decodes a msgKeyring payload into a *keyringRequest or
// a *keyringAnswer.
func decodeKeyringMsg(p []byte) (any, error) {
	r := &wireReader{b: p}
	if v := r.byte1("version"); r.err == nil && v != keyringWireVersion {
		r.fail("version %d, this agent speaks %d", v, keyringWireVersion)
	}
	kind := r.byte1("kind")
	var out any
	switch {
	case r.err != nil:
	case kind == kindKeyringRequest:
		q := &keyringRequest{op: keyringOp(r.byte1("op"))}
		switch q.op {
		case opList, opInstall, opUse, opRemove:
		default:
			r.fail("unknown op %d", byte(q.op))
		}
		q.id = r.uint64("id")
		q.sentMs = int64(r.uint64("time"))
		q.origin = string(r.short("origin", maxNodeNameBytes))
		q.key = r.key("key", q.op == opList)
		if r.err == nil && q.origin == "" {
			r.fail("origin is empty")
		}
		if r.err == nil && q.op == opList && len(q.key) != 0 {
			r.fail("list carries a key")
		}
		out = q
	case kind == kindKeyringAnswer:
		a := &keyringAnswer{id: r.uint64("id")}
		a.node = string(r.short("node", maxNodeNameBytes))
		switch ok := r.byte1("ok"); {
		case r.err != nil:
		case ok > 1:
			r.fail("ok is %d, want 0 or 1", ok)
		default:
			a.ok = ok == 1
		}
		var n int
		if b := r.bytes(2, "message length"); b != nil {
			n = int(binary.BigEndian.Uint16(b))
		}
		if r.err == nil && n > maxKeyringMessage {
			r.fail("message is %d bytes, at most %d", n, maxKeyringMessage)
		}
		a.msg = string(r.bytes(n, "message"))
		nkeys := int(r.byte1("key count"))
		if r.err == nil && nkeys > maxKeyringKeys {
			r.fail("%d keys, at most %d", nkeys, maxKeyringKeys)
		}
		for i := 0; i < nkeys && r.err == nil; i++ {
			a.keys = append(a.keys, r.key(fmt.Sprintf("keys[%d]", i), false))
		}
		out = a
	default:
		r.fail("unknown kind %d", kind)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

// The keyring file (data_dir/keyring.json) is a JSON array of base64 keys,
// primary first: the format of Serf's and Consul's keyring files.

func encodeKeyringFile(keys [][]byte) []byte {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = base64.StdEncoding.EncodeToString(k)
	}
	b, _ := json.Marshal(out)
	return append(b, '\n')
}

// decodeKeyringFile decodes and checks a keyring file; errors name what
// is wrong (the caller adds the path).
func decodeKeyringFile(b []byte) ([][]byte, error) {
	if len(b) > 64<<10 {
		return nil, fmt.Errorf("%w: %d bytes, a keyring file is at most 64 KiB", ErrMalformedKeyring, len(b))
	}
	var strs []string
	if err := json.Unmarshal(b, &strs); err != nil {
		return nil, fmt.Errorf("%w: want a JSON array of base64 keys, primary first: %w", ErrMalformedKeyring, err)
	}
	if len(strs) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrMalformedKeyring)
	}
	if len(strs) > maxKeyringKeys {
		return nil, fmt.Errorf("%w: %d keys, at most %d", ErrMalformedKeyring, len(strs), maxKeyringKeys)
	}
	keys := make([][]byte, 0, len(strs))
	for i, s := range strs {
		k, err := DecodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrMalformedKeyring, i, err)
		}
		for j, o := range keys {
			if bytes.Equal(o, k) {
				return nil, fmt.Errorf("%w: key %d repeats key %d", ErrMalformedKeyring, i, j)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}
