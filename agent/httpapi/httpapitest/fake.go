package httpapitest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
)

var (
	_ httpapi.Membership = (*Backend)(nil)
	_ httpapi.KV         = (*Backend)(nil)
	_ httpapi.Services   = (*Backend)(nil)
)

// baseMillis is the wall time of index 0 in fake versions (2023-11-14).
const baseMillis = 1_700_000_000_000

// Backend is an in-memory Membership, KV and Services. All methods are
// safe for concurrent use.
type Backend struct {
	// MaxValueBytes, when > 0, makes Put refuse bigger values with
	// ErrTooLarge like configsync does. Set it before use.
	MaxValueBytes int

	mu      sync.Mutex
	self    client.Self
	members []client.Member
	coords  []client.Coordinate
	rtts    map[[2]string]time.Duration
	joinFn  func(ctx context.Context, addrs []string) (int, error)
	joined  []string
	left    bool
	errs    map[string]error
	kv      map[string]*entry
	index   uint64
	changed chan struct{} // closed and replaced on every KV change
	waits   []WaitCall
	local   map[string]client.ServiceDefinition // by id
	health  map[string]client.ServiceInstance   // local instances by id
	remote  []client.ServiceInstance
}

type entry struct {
	pair    client.KVPair
	deleted bool
}

// WaitCall records one call of Wait.
type WaitCall struct {
	Prefix string
	Index  uint64
	// Deadline is how long the context had left when Wait was called;
	// 0 when it had no deadline.
	Deadline time.Duration
	// DeadlineAt is the context's deadline itself (zero without one): a
	// test of a short deadline compares it with clock readings of its own,
	// since on a loaded machine Deadline may have run out before Wait.
	DeadlineAt time.Time
}

// New returns a Backend whose agent is node "node1" at 127.0.0.1:7946 and
// alive, with an empty store and catalog.
func New() *Backend {
	b := &Backend{
		self: client.Self{Node: "node1", Version: "test", Address: "127.0.0.1", Port: 7946,
			Config: map[string]any{"gossip_key": false}, Stats: map[string]int64{}},
		rtts:    map[[2]string]time.Duration{},
		errs:    map[string]error{},
		kv:      map[string]*entry{},
		changed: make(chan struct{}),
		local:   map[string]client.ServiceDefinition{},
		health:  map[string]client.ServiceInstance{},
	}
	b.members = []client.Member{{Name: "node1", Address: "127.0.0.1", Port: 7946, Status: "alive", Protocol: 5}}
	return b
}

// Fail makes method (e.g. "Put", "Join", "Members"... any method name of
// the three interfaces that returns an error) return err until Fail is
// called again with nil.
func (b *Backend) Fail(method string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		delete(b.errs, method)
		return
	}
	b.errs[method] = err
}

func (b *Backend) failure(method string) error {
	return b.errs[method] // caller holds mu
}

// SetSelf replaces the agent's self description.
func (b *Backend) SetSelf(s client.Self) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.self = s
}

// SetMembers replaces the member list.
func (b *Backend) SetMembers(ms ...client.Member) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.members = slices.Clone(ms)
}

// SetCoordinates replaces the coordinates.
func (b *Backend) SetCoordinates(cs ...client.Coordinate) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.coords = slices.Clone(cs)
}

// SetRTT sets the estimate between from and to (both directions).
func (b *Backend) SetRTT(from, to string, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rtts[[2]string{from, to}] = d
	b.rtts[[2]string{to, from}] = d
}

// SetJoin replaces Join's behaviour; by default every address answers.
func (b *Backend) SetJoin(fn func(ctx context.Context, addrs []string) (int, error)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.joinFn = fn
}

// Joined returns every address Join was asked to contact.
func (b *Backend) Joined() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.joined)
}

// Left reports whether Leave succeeded.
func (b *Backend) Left() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

// Members implements httpapi.Membership.
func (b *Backend) Members() []client.Member {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.members)
}

// Self implements httpapi.Membership.
func (b *Backend) Self() client.Self {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.self
}

// Join implements httpapi.Membership.
func (b *Backend) Join(ctx context.Context, addrs []string) (int, error) {
	b.mu.Lock()
	fn, err := b.joinFn, b.failure("Join")
	b.joined = append(b.joined, addrs...)
	b.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if fn != nil {
		return fn(ctx, addrs)
	}
	return len(addrs), nil
}

// Leave implements httpapi.Membership.
func (b *Backend) Leave(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failure("Leave"); err != nil {
		return err
	}
	b.left = true
	return nil
}

// Coordinates implements httpapi.Membership.
func (b *Backend) Coordinates() []client.Coordinate {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.coords)
}

// RTT implements httpapi.Membership.
func (b *Backend) RTT(from, to string) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failure("RTT"); err != nil {
		return 0, err
	}
	if from == to {
		return 0, nil
	}
	d, ok := b.rtts[[2]string{from, to}]
	if !ok {
		return 0, fmt.Errorf("%w: httpapitest: no coordinate for %s or %s", httpapi.ErrNotFound, from, to)
	}
	return d, nil
}

// Get implements httpapi.KV.
func (b *Backend) Get(key string) (client.KVPair, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failure("Get"); err != nil {
		return client.KVPair{}, err
	}
	e, ok := b.kv[key]
	if !ok || e.deleted {
		return client.KVPair{}, fmt.Errorf("%w: httpapitest: key %q not found", httpapi.ErrNotFound, key)
	}
	return clonePair(e.pair), nil
}

// List implements httpapi.KV.
func (b *Backend) List(prefix string) []client.KVPair {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []client.KVPair
	for k, e := range b.kv {
		if !e.deleted && strings.HasPrefix(k, prefix) {
			out = append(out, clonePair(e.pair))
		}
	}
	slices.SortFunc(out, func(x, y client.KVPair) int { return cmp.Compare(x.Key, y.Key) })
	return out
}

// Keys implements httpapi.KV.
func (b *Backend) Keys(prefix string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for k, e := range b.kv {
		if !e.deleted && strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Put implements httpapi.KV.
func (b *Backend) Put(_ context.Context, key string, value []byte, flags uint64) (client.KVPair, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failure("Put"); err != nil {
		return client.KVPair{}, err
	}
	if key == "" || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return client.KVPair{}, fmt.Errorf("%w: httpapitest: invalid key %q", httpapi.ErrBadRequest, key)
	}
	if b.MaxValueBytes > 0 && len(value) > b.MaxValueBytes {
		return client.KVPair{}, fmt.Errorf("%w: httpapitest: value is %d bytes, limit kv.max_value_bytes is %d",
			httpapi.ErrTooLarge, len(value), b.MaxValueBytes)
	}
	p := b.nextLocked(key)
	p.Value = slices.Clone(value)
	if p.Value == nil {
		p.Value = []byte{}
	}
	p.Flags = flags
	b.kv[key] = &entry{pair: p}
	b.notifyLocked()
	return clonePair(p), nil
}

// Delete implements httpapi.KV.
func (b *Backend) Delete(_ context.Context, key string, recurse bool) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.failure("Delete"); err != nil {
		return 0, err
	}
	n := 0
	for k, e := range b.kv {
		if e.deleted || !(k == key || (recurse && strings.HasPrefix(k, key))) {
			continue
		}
		b.kv[k] = &entry{pair: b.nextLocked(k), deleted: true}
		n++
	}
	if n > 0 {
		b.notifyLocked()
	}
	return n, nil
}

// nextLocked stamps a new write of key with the next index.
func (b *Backend) nextLocked(key string) client.KVPair {
	b.index++
	ms := int64(baseMillis + b.index)
	return client.KVPair{
		Key:     key,
		Version: fmt.Sprintf("%d.0", ms),
		Origin:  b.self.Node,
		Updated: time.UnixMilli(ms).UTC(),
		Index:   b.index,
	}
}

func (b *Backend) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Index implements httpapi.KV.
func (b *Backend) Index(prefix string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.indexLocked(prefix)
}

func (b *Backend) indexLocked(prefix string) uint64 {
	var max uint64
	for k, e := range b.kv {
		if strings.HasPrefix(k, prefix) && e.pair.Index > max {
			max = e.pair.Index
		}
	}
	return max
}

// Wait implements httpapi.KV.
func (b *Backend) Wait(ctx context.Context, prefix string, index uint64) (uint64, error) {
	call := WaitCall{Prefix: prefix, Index: index}
	if d, ok := ctx.Deadline(); ok {
		call.Deadline, call.DeadlineAt = time.Until(d), d
	}
	b.mu.Lock()
	b.waits = append(b.waits, call)
	err := b.failure("Wait")
	b.mu.Unlock()
	if err != nil {
		return 0, err
	}
	for {
		b.mu.Lock()
		cur, ch := b.indexLocked(prefix), b.changed
		b.mu.Unlock()
		if cur > index {
			return cur, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cur, ctx.Err()
		}
	}
}

// Waits returns every call of Wait so far.
func (b *Backend) Waits() []WaitCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.waits)
}

func clonePair(p client.KVPair) client.KVPair {
	p.Value = slices.Clone(p.Value)
	return p
}
