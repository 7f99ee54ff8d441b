package agent

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/configsync"
)

// The operator's view backends: blocking member queries, the store's
// recent history and the cluster-wide propagation of a key.

var (
	_ httpapi.MemberWatch = apiMembership{}
	_ httpapi.Insight     = apiInsight{}
)

// initInsight registers the cluster queries the operator's view asks.
func (a *Agent) initInsight() {
	a.queries = newQueries(a)
	a.queries.answers[queryKeyVersion] = a.answerKeyVersion
	a.handlers[msgQuery] = HandlerFunc(a.queries.handle)
}

func (b apiMembership) MembersIndex() uint64 { return b.a.members.Version() }

// WaitMembers waits on a membership subscription: the table's version
// moves before its event is published, so subscribing first and then
// reading the version misses nothing.
func (b apiMembership) WaitMembers(ctx context.Context, index uint64) (uint64, error) {
	sub := b.a.Subscribe(1)
	defer sub.Close()
	for {
		if v := b.MembersIndex(); v > index {
			return v, nil
		}
		select {
		case _, ok := <-sub.C():
			if !ok {
				return b.MembersIndex(), fmt.Errorf("%w: %w", httpapi.ErrUnavailable, ErrShutdown)
			}
		case <-ctx.Done():
			return b.MembersIndex(), ctx.Err()
		}
	}
}

// rttFrom estimates the round trip from this agent to node.
func (a *Agent) rttFrom(node string) *float64 {
	self, ok := a.coords.Get(a.cfg.NodeName, true)
	if !ok {
		return nil
	}
	if node == a.cfg.NodeName {
		zero := 0.0
		return &zero
	}
	other, ok := a.coords.Get(node, false)
	if !ok {
		return nil
	}
	s := self.DistanceTo(other).Seconds()
	return &s
}

type apiInsight struct{ a *Agent }

func (i apiInsight) History(prefix string, limit int) []client.KVChange {
	cs := i.a.store.Recent(prefix, limit)
	out := make([]client.KVChange, len(cs))
	for j, c := range cs {
		out[j] = client.KVChange{
			Key: c.Key, Version: c.Version.String(), Origin: c.Version.Node, Index: c.Index,
			Deleted: c.Deleted, Seen: c.At.UTC(), Path: c.Path, LagSeconds: c.Lag().Seconds(),
		}
	}
	return out
}

// keyVersion is one agent's answer about a key.
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

var errKeyVersion = errors.New("agent: malformed key version answer")

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
	if w <= 0 || n > maxNodeNameBytes || n > uint64(len(b)-w) {
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

// answerKeyVersion answers queryKeyVersion from the local store.
func (a *Agent) answerKeyVersion(question []byte) []byte {
	key := string(question)
	var k keyVersion
	if r, ok := a.store.Lookup(key); ok {
		k.has, k.deleted, k.version = true, r.Deleted, r.Version
		if c, ok := a.store.Applied(key); ok && c.Version == r.Version {
			k.applied = c.At
		}
	}
	return k.encode()
}

// parseVersion reads "WALL.LOGICAL" as the API prints versions.
func parseVersion(s, origin string) (configsync.Version, error) {
	w, l, ok := strings.Cut(s, ".")
	wall, err1 := strconv.ParseInt(w, 10, 64)
	logical, err2 := strconv.ParseUint(l, 10, 32)
	if !ok || err1 != nil || err2 != nil || wall < 0 {
		return configsync.Version{}, fmt.Errorf("%w: agent: invalid version %q: want WALL.LOGICAL as the API prints it", httpapi.ErrBadRequest, s)
	}
	return configsync.Version{Wall: wall, Logical: uint32(logical), Node: origin}, nil
}

func (i apiInsight) Propagation(ctx context.Context, key, version, origin string, timeout time.Duration) (client.Propagation, error) {
	a := i.a
	if err := a.store.Limits().CheckKey(key); err != nil {
		return client.Propagation{}, fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	}
	var ref configsync.Version
	if version != "" {
		v, err := parseVersion(version, origin)
		if err != nil {
			return client.Propagation{}, err
		}
		ref = v
	} else if r, ok := a.store.Lookup(key); ok {
		ref = r.Version
	}
	out := client.Propagation{Key: key}
	if !ref.IsZero() {
		out.Version, out.Written = ref.String(), ref.Time().UTC()
	}
	for node, res := range a.queries.ask(ctx, queryKeyVersion, []byte(key), timeout) {
		nv := client.NodeVersion{Node: node}
		k, err := decodeKeyVersion(res.answer)
		if res.err != nil {
			err = res.err
		}
		if err != nil {
			nv.Error = err.Error()
			out.Nodes = append(out.Nodes, nv)
			continue
		}
		if k.has {
			nv.Version, nv.Deleted = k.version.String(), k.deleted
			at := ref
			if at.Node == "" { // no origin given: compare wall and logical only
				at.Node = k.version.Node
			}
			nv.Current = !ref.IsZero() && !k.version.Less(at)
		}
		if !k.applied.IsZero() {
			t := k.applied.UTC()
			nv.Applied = &t
			if k.version.Wall == ref.Wall && k.version.Logical == ref.Logical {
				s := t.Sub(ref.Time()).Seconds()
				nv.Seconds = &s
			}
		}
		out.Nodes = append(out.Nodes, nv)
	}
	slices.SortFunc(out.Nodes, func(x, y client.NodeVersion) int { return cmp.Compare(x.Node, y.Node) })
	return out, nil
}
