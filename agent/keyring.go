package agent

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/internal/atomicfile"
)

// The cluster-wide gossip keyring, like `serf keys` / `consul keyring`.
//
// memberlist encrypts with the first key of its Keyring and decrypts with
// any. An operation (list, install, use, remove) is applied on this agent
// and sent to every alive member as a msgKeyring request over memberlist's
// reliable channel; each applies it, saves its keyring in data_dir and
// answers. The caller gets, per member, an acknowledgement, an error or
// "no answer" after keyringTimeout.
//
// Trust: a request is acted on only when gossip is encrypted — then
// memberlist has already authenticated it with a key of the ring — and
// only within keyringReplayWindow of its sender's clock, once per id, so
// a captured request cannot be replayed later.

const (
	keyringFile = "keyring.json"
	// keyringTimeout bounds how long an operation waits for answers.
	keyringTimeout = 5 * time.Second
	// keyringReplayWindow: a request sent further than this from the
	// local clock is refused; request ids are remembered twice as long.
	keyringReplayWindow = 2 * time.Minute
	// keyringQueue is the depth of the queue of requests from members;
	// a request that finds it full is dropped (its sender reports that
	// this agent did not answer).
	keyringQueue = 16
	// keyringSenders bounds the concurrent sends of one operation.
	keyringSenders = 16
	// maxSeenRequests bounds the replay memory.
	maxSeenRequests = 4096
)

// Keyring errors.
var (
	// ErrNotEncrypted: the operation needs gossip encryption.
	ErrNotEncrypted = errors.New("agent: gossip is not encrypted on this agent; start every agent with gossip.key (agentctl keygen) to use a keyring")
	// ErrPrimaryKey: removing the key members encrypt with is refused.
	ErrPrimaryKey = errors.New("agent: removing the primary key is refused; make another key primary first (agentctl keyring use)")
)

type keyring struct {
	a    *Agent
	path string // "" without data_dir: kept in memory only
	// ring is memberlist's keyring; nil when gossip is not encrypted. Set
	// by open before memberlist exists, read-only afterwards.
	ring *memberlist.Keyring
	work chan *keyringRequest

	// dropped counts requests not acted on: queue full, replayed, stale,
	// or arriving while gossip is not encrypted. malformed counts those
	// that did not decode.
	dropped, malformed atomic.Uint64

	mu sync.Mutex
	// seen holds the requests acted on by id, with when and the answer
	// given; guarded by mu, which also serialises changes of the ring and
	// its file.
	seen map[uint64]seenRequest

	pmu sync.Mutex
	// pending maps the id of an operation this agent started to the
	// channel its answers go to; guarded by pmu.
	pending map[uint64]chan *keyringAnswer
}

func newKeyring(a *Agent) *keyring {
	k := &keyring{a: a, work: make(chan *keyringRequest, keyringQueue), seen: map[uint64]seenRequest{}, pending: map[uint64]chan *keyringAnswer{}}
	if a.cfg.DataDir != "" {
		k.path = filepath.Join(a.cfg.DataDir, keyringFile)
	}
	return k
}

// open loads the keyring: data_dir/keyring.json when it exists (it wins
// over gossip.key, as Consul's does), else gossip.key, which is then saved
// as the file. It returns nil when gossip is not encrypted.
func (k *keyring) open() (*memberlist.Keyring, error) {
	var keys [][]byte
	var cfgKey []byte
	if k.a.cfg.Gossip.Key != "" {
		cfgKey, _ = DecodeKey(k.a.cfg.Gossip.Key) // checked by Validate
	}
	if k.path != "" {
		b, err := os.ReadFile(k.path)
		switch {
		case err == nil:
			if keys, err = decodeKeyringFile(b); err != nil {
				return nil, fmt.Errorf("agent: keyring file %s: %w (fix it, or delete it to start again from gossip.key)", k.path, err)
			}
			if cfgKey != nil && !containsKey(keys, cfgKey) {
				k.a.log.Warn("gossip.key is not in the keyring file, which takes precedence: the keys were rotated (agentctl keyring); update gossip.key for new agents",
					"file", k.path)
			}
		case !os.IsNotExist(err):
			return nil, fmt.Errorf("agent: keyring file: %w", err)
		}
	}
	if keys == nil && cfgKey != nil {
		keys = [][]byte{cfgKey}
		if k.path != "" {
			if err := atomicfile.WriteFile(k.path, encodeKeyringFile(keys), 0o600); err != nil {
				return nil, fmt.Errorf("agent: saving the keyring: %w", err)
			}
		}
	}
	if keys == nil {
		return nil, nil
	}
	ring, err := newMemberlistKeyring(keys)
	if err != nil {
		return nil, fmt.Errorf("agent: keyring: %w", err)
	}
	k.ring = ring
	return ring, nil
}

// newMemberlistKeyring returns a ring of keys, the first primary.
func newMemberlistKeyring(keys [][]byte) (*memberlist.Keyring, error) {
	return memberlist.NewKeyring(keys[1:], keys[0])
}

// randomID is a request id no one can predict (crypto/rand).
func randomID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return binary.BigEndian.Uint64(b[:])
}

func containsKey(keys [][]byte, k []byte) bool {
	return slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) })
}

// keys returns a copy of the ring, primary first (nil when unencrypted).
func (k *keyring) keys() [][]byte {
	if k.ring == nil {
		return nil
	}
	var out [][]byte
	for _, key := range k.ring.GetKeys() {
		out = append(out, bytes.Clone(key))
	}
	return out
}

// handle receives msgKeyring messages. It runs on memberlist's packet or
// stream goroutines: it decodes and queues, never blocks.
func (k *keyring) handle(p []byte) {
	m, err := decodeKeyringMsg(p)
	if err != nil {
		k.malformed.Add(1)
		k.a.logRemote("keyring", "", "dropping malformed keyring message", "err", err)
		return
	}
	switch v := m.(type) {
	case *keyringRequest:
		if k.ring == nil || v.origin == k.a.cfg.NodeName {
			k.dropped.Add(1)
			return
		}
		select {
		case k.work <- v:
		default:
			k.dropped.Add(1)
		}
	case *keyringAnswer:
		k.pmu.Lock()
		ch := k.pending[v.id]
		k.pmu.Unlock()
		if ch != nil {
			select {
			case ch <- v:
			default: // more answers than members asked: a duplicate
			}
		}
	}
}

// run applies the requests of other members and answers them, one at a
// time, until ctx ends.
func (k *keyring) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-k.work:
			ans, err := k.admit(req, k.a.clk.Now())
			switch {
			case err != nil:
				k.dropped.Add(1)
				k.a.logRemote("keyring", req.origin, "refusing keyring request", "op", req.op.String(), "err", err)
				ans = &keyringAnswer{id: req.id, node: k.a.cfg.NodeName, msg: err.Error()}
			case ans == nil:
				ans = k.apply(req.op, req.key)
				ans.id = req.id
				k.remember(req.id, ans)
				lvl := slog.LevelInfo
				if req.op == opList {
					lvl = slog.LevelDebug
				}
				k.a.log.Log(ctx, lvl, "keyring operation from a member", "op", req.op.String(), "origin", req.origin, "ok", ans.ok, "msg", ans.msg)
			}
			if err := k.answer(req.origin, ans); err != nil {
				k.a.log.Warn("keyring answer not sent", "to", req.origin, "err", err)
			}
		}
	}
}

// answer sends ans to node over a stream even when this agent holds the
// node failed or suspect: it has just sent a request, and a passing
// suspicion must not turn a change applied here into "no answer" there.
func (k *keyring) answer(node string, ans *keyringAnswer) error {
	ml := k.a.memberlist()
	if ml == nil {
		return ErrNotRunning
	}
	m, ok := k.a.members.Get(node)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	return ml.SendReliable(&memberlist.Node{Name: m.Name, Addr: m.Addr.AsSlice(), Port: m.Port}, frame(msgKeyring, ans.encode()))
}

// seenRequest is a request acted on: when, and the answer given.
type seenRequest struct {
	at  time.Time
	ans *keyringAnswer
}

// admit refuses a request outside the replay window. A request seen
// before is not applied again: its first answer is returned, to be sent
// again (the origin resends to members that did not answer in time).
func (k *keyring) admit(req *keyringRequest, now time.Time) (*keyringAnswer, error) {
	sent := time.UnixMilli(req.sentMs)
	if d := now.Sub(sent); d > keyringReplayWindow || d < -keyringReplayWindow {
		return nil, fmt.Errorf("agent: keyring request sent at %s is more than %v from this agent's clock (replayed, or clocks apart)",
			sent.UTC().Format(time.RFC3339), keyringReplayWindow)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, sr := range k.seen {
		if now.Sub(sr.at) > 2*keyringReplayWindow {
			delete(k.seen, id)
		}
	}
	if sr, dup := k.seen[req.id]; dup {
		if sr.ans == nil {
			return nil, errors.New("agent: keyring request already being handled")
		}
		return sr.ans, nil
	}
	if len(k.seen) >= maxSeenRequests {
		return nil, errors.New("agent: too many keyring requests; retry later")
	}
	k.seen[req.id] = seenRequest{at: now}
	return nil, nil
}

// remember records the answer given to request id.
func (k *keyring) remember(id uint64, ans *keyringAnswer) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sr, ok := k.seen[id]; ok {
		sr.ans = ans
		k.seen[id] = sr
	}
}

// apply does op on this agent: the file is saved first, then memberlist's
// ring changes, so a failed save changes nothing.
func (k *keyring) apply(op keyringOp, key []byte) *keyringAnswer {
	ans := &keyringAnswer{node: k.a.cfg.NodeName}
	if k.ring == nil {
		ans.msg = ErrNotEncrypted.Error()
		return ans
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	keys := k.keys()
	var next [][]byte
	var err error
	switch op {
	case opInstall:
		switch {
		case containsKey(keys, key):
		case len(keys) >= maxKeyringKeys:
			err = fmt.Errorf("agent: the keyring holds %d keys, the most it may; remove one first", len(keys))
		default:
			next = append(slices.Clone(keys), key)
		}
	case opUse:
		switch i := slices.IndexFunc(keys, func(x []byte) bool { return bytes.Equal(x, key) }); {
		case i < 0:
			err = errors.New("agent: key is not installed on this agent; install it on every member first")
		case i > 0:
			next = append([][]byte{key}, slices.Delete(slices.Clone(keys), i, i+1)...)
		}
	case opRemove:
		switch {
		case bytes.Equal(keys[0], key):
			err = ErrPrimaryKey
		case containsKey(keys, key):
			next = slices.DeleteFunc(slices.Clone(keys), func(x []byte) bool { return bytes.Equal(x, key) })
		}
	}
	if err == nil && next != nil {
		if k.path != "" {
			if serr := atomicfile.WriteFile(k.path, encodeKeyringFile(next), 0o600); serr != nil {
				err = fmt.Errorf("agent: saving the keyring (nothing changed): %w", serr)
			}
		}
		if err == nil {
			switch op {
			case opInstall:
				err = k.ring.AddKey(key)
			case opUse:
				err = k.ring.UseKey(key)
			case opRemove:
				err = removeKey(k.ring, key)
			}
		}
	}
	ans.ok = err == nil
	if err != nil {
		ans.msg = err.Error()
	}
	ans.keys = k.keys()
	return ans
}

// removeKey removes key from ring, which must not be primary.
// memberlist's RemoveKey deletes with append(keys[:i], keys[i+1:]...),
// which overwrites the array GetKeys handed to packets being decrypted
// when key is not the last one: a data race. Removing the keys after it
// from the tail first (each then last: no write), then key, then adding
// them back (appends past what readers see) avoids it; packets encrypted
// with those keys in that instant fail to decrypt and gossip resends them.
func removeKey(ring *memberlist.Keyring, key []byte) error {
	keys := ring.GetKeys()
	i := slices.IndexFunc(keys, func(x []byte) bool { return bytes.Equal(x, key) })
	if i < 0 {
		return nil
	}
	tail := make([][]byte, 0, len(keys)-i-1)
	for _, t := range keys[i+1:] {
		tail = append(tail, bytes.Clone(t))
	}
	for j := len(tail) - 1; j >= 0; j-- {
		if err := ring.RemoveKey(tail[j]); err != nil {
			return err
		}
	}
	if err := ring.RemoveKey(key); err != nil {
		return err
	}
	for _, t := range tail {
		if err := ring.AddKey(t); err != nil {
			return err
		}
	}
	return nil
}

// operate applies op on this agent and every alive or suspect member and
// gathers their answers for up to keyringTimeout (or until ctx ends).
func (k *keyring) operate(ctx context.Context, op keyringOp, key []byte) (client.KeyringResponse, []*keyringAnswer, error) {
	self := k.a.cfg.NodeName
	var others []string
	for _, m := range k.a.members.WithStatus(StatusAlive, StatusSuspect) {
		if m.Name != self {
			others = append(others, m.Name)
		}
	}
	req := &keyringRequest{op: op, id: randomID(), sentMs: k.a.clk.Now().UnixMilli(), origin: self, key: key}
	ch := make(chan *keyringAnswer, len(others))
	k.pmu.Lock()
	k.pending[req.id] = ch
	k.pmu.Unlock()
	defer func() {
		k.pmu.Lock()
		delete(k.pending, req.id)
		k.pmu.Unlock()
	}()

	answers := map[string]*keyringAnswer{self: k.apply(op, key)}
	failed := map[string]string{}
	type sendErr struct{ node, why string }
	// Each member is sent the request at most twice.
	errc := make(chan sendErr, 2*len(others))
	sem := make(chan struct{}, keyringSenders)
	payload := req.encode()
	send := func(names []string) error {
		k.a.mu.Lock()
		if k.a.state != stateRunning {
			k.a.mu.Unlock()
			return ErrNotRunning
		}
		k.a.wg.Add(len(names)) // under a.mu: Shutdown cannot be waiting yet
		k.a.mu.Unlock()
		for _, name := range names {
			go func() {
				defer k.a.wg.Done()
				sem <- struct{}{}
				err := k.a.SendReliable(name, msgKeyring, payload)
				<-sem
				if err != nil {
					errc <- sendErr{name, "not sent: " + err.Error()}
				}
			}()
		}
		return nil
	}
	if err := send(others); err != nil {
		return client.KeyringResponse{}, nil, err
	}
	asked := map[string]bool{self: true}
	for _, n := range others {
		asked[n] = true
	}
	// Halfway, the request goes again to members that have not answered
	// (a stream lost or stalled on a loaded machine): they apply it once
	// and answer again.
	resend := time.NewTimer(keyringTimeout / 2)
	defer resend.Stop()
	timer := time.NewTimer(keyringTimeout)
	defer timer.Stop()
wait:
	for len(answers)+len(failed) < len(asked) {
		select {
		case a := <-ch:
			if asked[a.node] && answers[a.node] == nil {
				answers[a.node] = a
				delete(failed, a.node)
			}
		case e := <-errc:
			if answers[e.node] == nil {
				failed[e.node] = e.why
			}
		case <-resend.C:
			var again []string
			for _, n := range others {
				if answers[n] == nil {
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
	resp := client.KeyringResponse{Op: op.String(), Members: len(asked)}
	var got []*keyringAnswer
	for n := range asked {
		a := answers[n]
		switch {
		case a == nil && failed[n] == "":
			failed[n] = fmt.Sprintf("no answer within %v", keyringTimeout)
		case a == nil:
		case !a.ok:
			failed[n] = a.msg
		default:
			resp.Acked++
			got = append(got, a)
		}
	}
	if len(failed) > 0 {
		resp.Failed = failed
	}
	return resp, got, nil
}

// apiKeyring adapts the keyring to httpapi.Keyring.
type apiKeyring struct{ k *keyring }

var _ httpapi.Keyring = apiKeyring{}

func (b apiKeyring) List(ctx context.Context) (client.KeyringResponse, error) {
	if b.k.ring == nil {
		return client.KeyringResponse{}, fmt.Errorf("%w: %w", httpapi.ErrConflict, ErrNotEncrypted)
	}
	resp, answers, err := b.k.operate(ctx, opList, nil)
	if err != nil {
		return resp, fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
	}
	count := map[string]*client.KeyringKey{}
	for _, a := range answers {
		for i, key := range a.keys {
			s := base64.StdEncoding.EncodeToString(key)
			c := count[s]
			if c == nil {
				c = &client.KeyringKey{Key: s}
				count[s] = c
			}
			c.Installed++
			if i == 0 {
				c.Primary++
			}
		}
	}
	for _, c := range count {
		resp.Keys = append(resp.Keys, *c)
	}
	slices.SortFunc(resp.Keys, func(x, y client.KeyringKey) int { return cmp.Compare(x.Key, y.Key) })
	return resp, nil
}

func (b apiKeyring) Change(ctx context.Context, op httpapi.KeyringOp, keyText string) (client.KeyringResponse, error) {
	var kop keyringOp
	switch op {
	case httpapi.KeyringInstall:
		kop = opInstall
	case httpapi.KeyringUse:
		kop = opUse
	case httpapi.KeyringRemove:
		kop = opRemove
	default:
		return client.KeyringResponse{}, fmt.Errorf("%w: keyring: unknown operation %q", httpapi.ErrBadRequest, op)
	}
	key, err := DecodeKey(keyText)
	if err != nil {
		return client.KeyringResponse{}, fmt.Errorf("%w: keyring: key %w", httpapi.ErrBadRequest, err)
	}
	if b.k.ring == nil {
		return client.KeyringResponse{}, fmt.Errorf("%w: %w", httpapi.ErrConflict, ErrNotEncrypted)
	}
	local := b.k.keys()
	switch {
	case kop == opUse && !containsKey(local, key):
		return client.KeyringResponse{}, fmt.Errorf("%w: keyring: key is not installed on this agent; install it first (agentctl keyring install)", httpapi.ErrConflict)
	case kop == opRemove && bytes.Equal(local[0], key):
		return client.KeyringResponse{}, fmt.Errorf("%w: %w", httpapi.ErrConflict, ErrPrimaryKey)
	case kop == opRemove:
		// Refuse while any member still encrypts with the key: it would
		// drop out of the cluster.
		list, err := b.List(ctx)
		if err != nil {
			return list, err
		}
		for _, c := range list.Keys {
			if c.Key == base64.StdEncoding.EncodeToString(key) && c.Primary > 0 {
				return client.KeyringResponse{}, fmt.Errorf("%w: keyring: key is still primary on %d member(s); run agentctl keyring use with the new key first",
					httpapi.ErrConflict, c.Primary)
			}
		}
	}
	resp, _, err := b.k.operate(ctx, kop, key)
	if err != nil {
		return resp, fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
	}
	b.k.a.log.Info("keyring operation", "op", kop.String(), "members", resp.Members, "acked", resp.Acked, "failed", len(resp.Failed))
	return resp, nil
}
