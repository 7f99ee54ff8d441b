package query

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Frame types.
const (
	typeRequest = 'Q' // a request without a stamp
	typeStamped = 'S' // a request with the asker's wall clock
	typeAnswer  = 'A'
	typeError   = 'E' // the answer is a refusal: its payload is the reason
)

const (
	// MaxNodeName bounds the sender's name in a frame (node_name's limit).
	MaxNodeName = 128
	// MaxErrorText bounds the text of an error answer.
	MaxErrorText = 512
)

// ErrMalformed marks a frame that does not decode; a Handler wraps it for
// a question it cannot decode.
var ErrMalformed = errors.New("query: malformed frame")

// frame is one request or answer.
type frame struct {
	typ  byte
	kind Kind
	id   uint64
	// sentMs is the asker's wall clock in unix ms (stamped requests).
	sentMs  int64
	node    string
	payload []byte
}

// isRequest reports whether f asks a question.
func (f frame) isRequest() bool { return f.typ == typeRequest || f.typ == typeStamped }

// encode returns the frame's bytes (without the message type byte).
func (f frame) encode() []byte {
	payload := f.payload
	if f.typ == typeError && len(payload) > MaxErrorText {
		payload = payload[:MaxErrorText]
	}
	b := make([]byte, 0, 18+binary.MaxVarintLen64+len(f.node)+len(payload))
	b = append(b, f.typ, byte(f.kind))
	b = binary.BigEndian.AppendUint64(b, f.id)
	if f.typ == typeStamped {
		b = binary.BigEndian.AppendUint64(b, uint64(f.sentMs))
	}
	b = binary.AppendUvarint(b, uint64(len(f.node)))
	b = append(b, f.node...)
	return append(b, payload...)
}

// decode parses a frame; its payload aliases b. Errors wrap ErrMalformed
// and say what is wrong.
func decode(b []byte) (frame, error) {
	if len(b) < 11 {
		return frame{}, fmt.Errorf("%w: %d bytes, a frame has at least 11", ErrMalformed, len(b))
	}
	f := frame{typ: b[0], kind: Kind(b[1]), id: binary.BigEndian.Uint64(b[2:10])}
	rest := b[10:]
	switch f.typ {
	case typeRequest, typeAnswer, typeError:
	case typeStamped:
		if len(rest) < 8 {
			return frame{}, fmt.Errorf("%w: stamped request without its time", ErrMalformed)
		}
		f.sentMs = int64(binary.BigEndian.Uint64(rest))
		rest = rest[8:]
		if f.sentMs <= 0 {
			return frame{}, fmt.Errorf("%w: request sent at %d ms", ErrMalformed, f.sentMs)
		}
	default:
		return frame{}, fmt.Errorf("%w: type %#x", ErrMalformed, f.typ)
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n == 0 || n > MaxNodeName || n > uint64(len(rest)-w) || w != len(binary.AppendUvarint(nil, n)) {
		return frame{}, fmt.Errorf("%w: bad node name length", ErrMalformed)
	}
	f.node = string(rest[w : w+int(n)])
	f.payload = rest[w+int(n):]
	if f.typ == typeError && len(f.payload) > MaxErrorText {
		return frame{}, fmt.Errorf("%w: error text of %d bytes, at most %d", ErrMalformed, len(f.payload), MaxErrorText)
	}
	return f, nil
}
