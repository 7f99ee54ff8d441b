package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Cluster queries: ask every live member a question over gossip and
// collect the answers until all have answered or a timeout passes. A
// request and its answer each travel in one UDP packet (SendBestEffort),
// so a lost packet shows as a member that did not answer; callers ask
// again. Requests are answered by one worker goroutine from a bounded
// queue, never on memberlist's packet loop; a full queue drops requests.
//
// This is for read-only questions (the propagation view). The keyring
// (keyring.go) has its own request/answer over reliable streams with a
// replay window, because its requests change state; the two share the
// shape (random ids, a pending map, answers until a timeout) and could
// become one mechanism with a "reliable + admit" option.
//
// Frame, after the MsgType byte:
//
//	'Q' | 'A'   request or answer
//	kind        which question (queryKind)
//	id          8 bytes, big endian: the asker's request id
//	uvarint n, n bytes: the sender's node name
//	payload     the question or answer, up to the rest of the packet

const msgQuery MsgType = 4

type queryKind byte

const (
	// queryKeyVersion: which version of a key do you hold (propagation).
	queryKeyVersion queryKind = 'V'
)

const (
	queryRequest = 'Q'
	queryAnswer  = 'A'
	// queryBacklog bounds requests waiting for the worker.
	queryBacklog = 256
)

// errQueryFrame marks a malformed query frame.
var errQueryFrame = errors.New("agent: malformed query frame")

type queryFrame struct {
	typ     byte
	kind    queryKind
	id      uint64
	node    string
	payload []byte
}

func (f queryFrame) encode() []byte {
	b := make([]byte, 0, 10+binary.MaxVarintLen64+len(f.node)+len(f.payload))
	b = append(b, f.typ, byte(f.kind))
	b = binary.BigEndian.AppendUint64(b, f.id)
	b = binary.AppendUvarint(b, uint64(len(f.node)))
	b = append(b, f.node...)
	return append(b, f.payload...)
}

// decodeQueryFrame parses a frame; payload aliases b.
func decodeQueryFrame(b []byte) (queryFrame, error) {
	if len(b) < 11 {
		return queryFrame{}, fmt.Errorf("%w: %d bytes", errQueryFrame, len(b))
	}
	f := queryFrame{typ: b[0], kind: queryKind(b[1]), id: binary.BigEndian.Uint64(b[2:10])}
	if f.typ != queryRequest && f.typ != queryAnswer {
		return queryFrame{}, fmt.Errorf("%w: type %#x", errQueryFrame, f.typ)
	}
	n, w := binary.Uvarint(b[10:])
	if w <= 0 || n == 0 || n > maxNodeNameBytes || n > uint64(len(b)-10-w) {
		return queryFrame{}, fmt.Errorf("%w: bad node name length", errQueryFrame)
	}
	f.node = string(b[10+w : 10+w+int(n)])
	f.payload = b[10+w+int(n):]
	return f, nil
}

// answerer answers one kind of question; it may take locks but must be
// quick. It returns nil to not answer.
type answerer func(question []byte) []byte

type queries struct {
	a        *Agent
	answers  map[queryKind]answerer // fixed at New
	requests chan queryFrame

	mu sync.Mutex
	// pending maps a request id to its answers; guarded by mu.
	pending map[uint64]chan queryFrame
}

func newQueries(a *Agent) *queries {
	return &queries{a: a, answers: map[queryKind]answerer{}, requests: make(chan queryFrame, queryBacklog), pending: map[uint64]chan queryFrame{}}
}

// handle runs on memberlist's packet loop: it never blocks.
func (q *queries) handle(p []byte) {
	f, err := decodeQueryFrame(p)
	if err != nil {
		return
	}
	if f.typ == queryRequest {
		if q.answers[f.kind] == nil {
			return
		}
		f.payload = append([]byte(nil), f.payload...)
		select {
		case q.requests <- f:
		default: // overloaded: the asker sees no answer
		}
		return
	}
	q.mu.Lock()
	ch := q.pending[f.id]
	q.mu.Unlock()
	if ch == nil {
		return
	}
	f.payload = append([]byte(nil), f.payload...)
	select {
	case ch <- f:
	default: // more answers than asked: a duplicate or a forgery
	}
}

// serve answers requests until ctx ends.
func (q *queries) serve(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-q.requests:
			ans := q.answers[f.kind](f.payload)
			if ans == nil {
				continue
			}
			out := queryFrame{typ: queryAnswer, kind: f.kind, id: f.id, node: q.a.cfg.NodeName, payload: ans}
			_ = q.a.SendBestEffort(f.node, msgQuery, out.encode()) // lost: the asker asks again
		}
	}
}

// queryResult is one member's answer, or why there is none.
type queryResult struct {
	answer []byte
	err    error
}

// ask sends question to every alive or suspect member and returns each
// one's answer (this agent's own included) once all have answered, the
// timeout passes or ctx ends.
func (q *queries) ask(ctx context.Context, kind queryKind, question []byte, timeout time.Duration) map[string]queryResult {
	out := map[string]queryResult{q.a.cfg.NodeName: {answer: q.answers[kind](question)}}
	var targets []string
	for _, m := range q.a.members.WithStatus(StatusAlive, StatusSuspect) {
		if m.Name != q.a.cfg.NodeName {
			targets = append(targets, m.Name)
		}
	}
	if len(targets) == 0 {
		return out
	}
	ch := make(chan queryFrame, len(targets))
	id := randomID() // unguessable, as the keyring's: a forged answer must name it
	q.mu.Lock()
	q.pending[id] = ch
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.pending, id)
		q.mu.Unlock()
	}()
	frame := queryFrame{typ: queryRequest, kind: kind, id: id, node: q.a.cfg.NodeName, payload: question}.encode()
	waiting := map[string]bool{}
	for _, t := range targets {
		if err := q.a.SendBestEffort(t, msgQuery, frame); err != nil {
			out[t] = queryResult{err: err}
			continue
		}
		waiting[t] = true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for len(waiting) > 0 {
		select {
		case f := <-ch:
			if waiting[f.node] && f.kind == kind {
				delete(waiting, f.node)
				out[f.node] = queryResult{answer: f.payload}
			}
		case <-timer.C:
			for t := range waiting {
				out[t] = queryResult{err: fmt.Errorf("agent: no answer within %v", timeout)}
			}
			return out
		case <-ctx.Done():
			for t := range waiting {
				out[t] = queryResult{err: ctx.Err()}
			}
			return out
		}
	}
	return out
}
