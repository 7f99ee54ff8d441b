package query

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murmurhq/murmur/internal/clock"
)

// Kind is the question a request asks (one byte on the wire). Values are
// part of the wire protocol: never reuse one.
type Kind byte

// Errors.
var (
	// ErrNoAnswer: a member did not answer within the timeout.
	ErrNoAnswer = errors.New("query: no answer")
	// ErrNotSent: the request could not be sent to a member.
	ErrNotSent = errors.New("query: not sent")
	// ErrClosed: Run has ended (the agent is shutting down).
	ErrClosed = errors.New("query: closed")
)

// RemoteError is a member's refusal to answer, as it sent it.
type RemoteError struct {
	Node string
	Msg  string
}

func (e *RemoteError) Error() string { return e.Msg }

// Cluster is how queries reach the members: the agent's gossip. Both
// methods are called concurrently.
type Cluster interface {
	// Members returns the names of the members to ask (alive and suspect;
	// this agent's own name is skipped).
	Members() []string
	// Send sends frame to the named member as one user message of the
	// query type: over a stream when reliable (it blocks up to the stream
	// timeout), else in one packet. Any member this agent knows may be
	// the target, even one it holds failed: an answer goes back to
	// whoever asked.
	Send(node string, frame []byte, reliable bool) error
}

// Handler answers one kind of question; from is the asker's name. It runs
// on the kind's goroutine, one request at a time, so it may block briefly
// (write a file). An error is sent back as the member's answer, unless it
// wraps ErrMalformed: then the request is counted and dropped.
type Handler func(from string, question []byte) ([]byte, error)

// Options say how the requests of one kind travel and are admitted.
type Options struct {
	// Reliable sends requests and answers over streams, and the request
	// again, halfway through the timeout, to members that have not
	// answered. Without it each travels in one UDP packet.
	Reliable bool
	// Window, when positive, stamps requests with the asker's clock: one
	// further than Window from this agent's clock is refused, and each
	// id is answered once (a repeat gets the first answer again). Ids
	// are remembered for 2×Window.
	Window time.Duration
	// Admit, when set, is asked on memberlist's packet loop (it must not
	// block) before a request is queued; false drops it.
	Admit func() bool
	// Queue bounds the requests waiting to be answered (default 64); a
	// request that finds it full is dropped and its asker sees no answer.
	Queue int
}

// Stats counts the requests of one kind that were not answered.
type Stats struct {
	// Dropped: queue full, not admitted, refused by the window (stale,
	// repeated while running, too many remembered), or from this agent.
	Dropped uint64
	// Malformed: frames of this kind, or questions, that did not decode.
	Malformed uint64
}

const (
	// maxSenders bounds the concurrent reliable sends of one Ask.
	maxSenders = 16
	// maxSeen bounds the replay memory of one kind.
	maxSeen = 4096
)

// Config configures Queries.
type Config struct {
	// Node is this agent's name: the sender of its frames.
	Node    string
	Cluster Cluster
	// Clock stamps requests and judges the window; nil is the real one.
	Clock clock.Clock
	// Logger gets the component attribute "query".
	Logger *slog.Logger
	// Remote logs, rate-limited per source, a problem caused by bytes
	// from the network (source is the sender, "" when unknown); nil logs
	// to Logger at warn.
	Remote func(source, msg string, args ...any)
}

// Queries asks and answers questions. Methods are safe for concurrent use
// once the kinds are registered.
type Queries struct {
	cfg Config
	log *slog.Logger
	// kinds is filled by Handle before Run and read-only afterwards.
	kinds map[Kind]*kind
	// malformed counts frames of no registered kind that did not decode.
	malformed atomic.Uint64

	mu sync.Mutex
	// pending maps the id of a request this agent asked to the channel its
	// answers go to; closed is set when Run ends; senders counts the send
	// goroutines of Ask, which Run waits for. All guarded by mu.
	pending map[uint64]chan frame
	closed  bool
	senders sync.WaitGroup
}

// kind is one registered question.
type kind struct {
	h                  Handler
	o                  Options
	work               chan frame
	dropped, malformed atomic.Uint64

	mu sync.Mutex
	// seen holds the stamped requests answered (or being answered) by id;
	// guarded by mu.
	seen map[uint64]seenRequest
}

// seenRequest is a stamped request acted on: when, and the answer given
// (nil while the handler runs).
type seenRequest struct {
	at  time.Time
	ans *frame
}

// New returns Queries with no kinds.
func New(cfg Config) *Queries {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	q := &Queries{cfg: cfg, log: cfg.Logger.With("component", "query"), kinds: map[Kind]*kind{}, pending: map[uint64]chan frame{}}
	if q.cfg.Remote == nil {
		q.cfg.Remote = func(source, msg string, args ...any) { q.log.Warn(msg, append([]any{"source", source}, args...)...) }
	}
	return q
}

// Handle registers h for questions of kind k. Call it before Run.
func (q *Queries) Handle(k Kind, h Handler, o Options) {
	if o.Queue <= 0 {
		o.Queue = 64
	}
	q.kinds[k] = &kind{h: h, o: o, work: make(chan frame, o.Queue), seen: map[uint64]seenRequest{}}
}

// Stats returns the counters of kind k.
func (q *Queries) Stats(k Kind) Stats {
	if kd := q.kinds[k]; kd != nil {
		return Stats{Dropped: kd.dropped.Load(), Malformed: kd.malformed.Load()}
	}
	return Stats{Malformed: q.malformed.Load()}
}

// HandleMessage takes a frame from the network. It runs on memberlist's
// packet loop (or a stream goroutine): it decodes and queues, never
// blocks, and copies what it keeps.
func (q *Queries) HandleMessage(p []byte) {
	f, err := decode(p)
	kd := (*kind)(nil)
	if len(p) > 1 {
		kd = q.kinds[Kind(p[1])]
	}
	if err != nil {
		if kd != nil {
			kd.malformed.Add(1)
		} else {
			q.malformed.Add(1)
		}
		q.cfg.Remote("", "dropping malformed query frame", "err", err)
		return
	}
	if kd == nil {
		return // a question this agent does not know: no answer
	}
	f.payload = append([]byte(nil), f.payload...)
	if !f.isRequest() {
		q.mu.Lock()
		ch := q.pending[f.id]
		q.mu.Unlock()
		if ch != nil {
			select {
			case ch <- f:
			default: // more answers than asked: a duplicate or a forgery
			}
		}
		return
	}
	switch {
	case f.node == q.cfg.Node, kd.o.Admit != nil && !kd.o.Admit():
		kd.dropped.Add(1)
		return
	case (kd.o.Window > 0) != (f.typ == typeStamped):
		kd.malformed.Add(1)
		q.cfg.Remote(f.node, "dropping query request: stamped when it should not be, or not when it should", "kind", string(rune(f.kind)))
		return
	}
	select {
	case kd.work <- f:
	default:
		kd.dropped.Add(1) // overloaded: the asker sees no answer
	}
}

// Run answers requests, one at a time per kind, until ctx ends; then it
// waits for the sends Ask started and returns nil.
func (q *Queries) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for k, kd := range q.kinds {
		wg.Go(func() { q.serve(ctx, k, kd) })
	}
	wg.Wait()
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.senders.Wait()
	return nil
}

func (q *Queries) serve(ctx context.Context, k Kind, kd *kind) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-kd.work:
			ans, ok := q.answer(kd, f)
			if !ok {
				continue
			}
			if err := q.cfg.Cluster.Send(f.node, ans.encode(), kd.o.Reliable); err != nil && kd.o.Reliable {
				q.log.Warn("query answer not sent", "kind", string(rune(k)), "to", f.node, "err", err)
			} // an unreliable answer lost: the asker asks again
		}
	}
}

// answer runs the handler for request f, through the window when the kind
// has one; false when nothing is to be sent.
func (q *Queries) answer(kd *kind, f frame) (*frame, bool) {
	reply := func(payload []byte, err error) *frame {
		out := &frame{typ: typeAnswer, kind: f.kind, id: f.id, node: q.cfg.Node, payload: payload}
		if err != nil {
			out.typ, out.payload = typeError, []byte(err.Error())
		}
		return out
	}
	if kd.o.Window > 0 {
		prev, err := kd.admit(f, q.cfg.Clock.Now())
		if err != nil {
			kd.dropped.Add(1)
			q.cfg.Remote(f.node, "refusing query request", "kind", string(rune(f.kind)), "err", err)
			return reply(nil, err), true
		}
		if prev != nil {
			return prev, true
		}
	}
	payload, err := kd.h(f.node, f.payload)
	if errors.Is(err, ErrMalformed) {
		kd.malformed.Add(1)
		q.cfg.Remote(f.node, "dropping malformed query request", "kind", string(rune(f.kind)), "err", err)
		kd.forget(f.id)
		return nil, false
	}
	ans := reply(payload, err)
	if kd.o.Window > 0 {
		kd.remember(f.id, ans)
	}
	return ans, true
}

// admit refuses a stamped request outside the window. A request seen
// before is not answered again: its first answer is returned, to be sent
// again (the asker resends to members that did not answer in time).
func (kd *kind) admit(f frame, now time.Time) (*frame, error) {
	w := kd.o.Window
	sent := time.UnixMilli(f.sentMs)
	if d := now.Sub(sent); d > w || d < -w {
		return nil, fmt.Errorf("query: request sent at %s is more than %v from this agent's clock (replayed, or clocks apart)",
			sent.UTC().Format(time.RFC3339), w)
	}
	kd.mu.Lock()
	defer kd.mu.Unlock()
	for id, sr := range kd.seen {
		if now.Sub(sr.at) > 2*w {
			delete(kd.seen, id)
		}
	}
	if sr, dup := kd.seen[f.id]; dup {
		if sr.ans == nil {
			return nil, errors.New("query: request already being handled")
		}
		return sr.ans, nil
	}
	if len(kd.seen) >= maxSeen {
		return nil, errors.New("query: too many requests; retry later")
	}
	kd.seen[f.id] = seenRequest{at: now}
	return nil, nil
}

// remember records the answer given to request id.
func (kd *kind) remember(id uint64, ans *frame) {
	kd.mu.Lock()
	defer kd.mu.Unlock()
	if sr, ok := kd.seen[id]; ok {
		sr.ans = ans
		kd.seen[id] = sr
	}
}

// forget drops request id (it did not decode: nothing was answered).
func (kd *kind) forget(id uint64) {
	kd.mu.Lock()
	defer kd.mu.Unlock()
	delete(kd.seen, id)
}

// Result is one member's answer, or why there is none.
type Result struct {
	Answer []byte
	// Err wraps ErrNoAnswer or ErrNotSent, is a *RemoteError (the member
	// refused), the local Handler's error, or ctx's error.
	Err error
}

// randomID is a request id no one can predict (crypto/rand).
func randomID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return binary.BigEndian.Uint64(b[:])
}

// Ask asks every member question k and returns each one's answer (this
// agent's own, from its Handler, included) once all have answered, the
// timeout passed or ctx ended. The error is ErrClosed once Run has ended.
func (q *Queries) Ask(ctx context.Context, k Kind, question []byte, timeout time.Duration) (map[string]Result, error) {
	kd := q.kinds[k]
	if kd == nil {
		return nil, fmt.Errorf("query: kind %q is not registered", rune(k))
	}
	ans, err := kd.h(q.cfg.Node, question)
	out := map[string]Result{q.cfg.Node: {Answer: ans, Err: err}}
	var targets []string
	for _, m := range q.cfg.Cluster.Members() {
		if m != q.cfg.Node {
			targets = append(targets, m)
		}
	}
	if len(targets) == 0 {
		return out, nil
	}
	req := frame{typ: typeRequest, kind: k, id: randomID(), node: q.cfg.Node, payload: question}
	if kd.o.Window > 0 {
		req.typ, req.sentMs = typeStamped, q.cfg.Clock.Now().UnixMilli()
	}
	ch := make(chan frame, 2*len(targets)) // a resent request may be answered twice
	q.mu.Lock()
	q.pending[req.id] = ch
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.pending, req.id)
		q.mu.Unlock()
	}()

	type sendErr struct {
		node string
		err  error
	}
	errc := make(chan sendErr, 2*len(targets)) // each member is sent the request at most twice
	sem := make(chan struct{}, maxSenders)
	wire := req.encode()
	send := func(names []string) error {
		if !kd.o.Reliable {
			for _, n := range names {
				if err := q.cfg.Cluster.Send(n, wire, false); err != nil {
					errc <- sendErr{n, err}
				}
			}
			return nil
		}
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		q.senders.Add(len(names)) // under mu: Run cannot be waiting yet
		q.mu.Unlock()
		for _, n := range names {
			go func() {
				defer q.senders.Done()
				sem <- struct{}{}
				err := q.cfg.Cluster.Send(n, wire, true)
				<-sem
				if err != nil {
					errc <- sendErr{n, err}
				}
			}()
		}
		return nil
	}
	if err := send(targets); err != nil {
		return nil, err
	}
	answers, failed := map[string]Result{}, map[string]error{}
	var resend <-chan time.Time
	if kd.o.Reliable {
		t := time.NewTimer(timeout / 2)
		defer t.Stop()
		resend = t.C
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	asked := map[string]bool{}
	for _, n := range targets {
		asked[n] = true
	}
wait:
	for len(answers)+len(failed) < len(targets) {
		select {
		case f := <-ch:
			if !asked[f.node] || f.kind != k {
				continue
			}
			if _, done := answers[f.node]; done {
				continue
			}
			delete(failed, f.node)
			if f.typ == typeError {
				answers[f.node] = Result{Err: &RemoteError{Node: f.node, Msg: string(f.payload)}}
			} else {
				answers[f.node] = Result{Answer: f.payload}
			}
		case e := <-errc:
			if _, done := answers[e.node]; !done {
				failed[e.node] = fmt.Errorf("%w: %w", ErrNotSent, e.err)
			}
		case <-resend:
			var again []string
			for _, n := range targets {
				if _, done := answers[n]; !done {
					again = append(again, n)
				}
			}
			_ = send(again) // a shutdown ends the wait through ctx or the timer
		case <-timer.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	for _, n := range targets {
		switch r, done := answers[n]; {
		case done:
			out[n] = r
		case failed[n] != nil:
			out[n] = Result{Err: failed[n]}
		case ctx.Err() != nil:
			out[n] = Result{Err: ctx.Err()}
		default:
			out[n] = Result{Err: fmt.Errorf("%w within %v", ErrNoAnswer, timeout)}
		}
	}
	return out, nil
}
