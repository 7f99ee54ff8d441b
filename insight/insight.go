package insight

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/configsync"
	"github.com/murmurhq/murmur/query"
)

// Kind is the propagation question: which version of a key do you hold.
// Wire value: never reuse it.
const Kind query.Kind = 'V'

// ErrInvalid marks a malformed key or version in a request.
var ErrInvalid = errors.New("insight: invalid request")

// Store is the replicated store as insight reads it (a
// *configsync.Store). Methods are called concurrently.
type Store interface {
	// Lookup returns key's record, tombstones included.
	Lookup(key string) (configsync.Record, bool)
	// Applied returns the latest change of key this agent remembers.
	Applied(key string) (configsync.Change, bool)
	// Recent returns up to limit of the latest changes under prefix,
	// newest first.
	Recent(prefix string, limit int) []configsync.Change
	// Limits are the store's key and value limits.
	Limits() configsync.Limits
}

// Asker asks every member a question: the agent's query.Queries. Handle
// is called by New only; Ask concurrently.
type Asker interface {
	Handle(k query.Kind, h query.Handler, o query.Options)
	Ask(ctx context.Context, k query.Kind, question []byte, timeout time.Duration) (map[string]query.Result, error)
}

// Insight answers the operator's questions. Safe for concurrent use.
type Insight struct {
	store Store
	asker Asker
}

// New returns the insight over store and registers Kind with asker.
func New(store Store, asker Asker) *Insight {
	i := &Insight{store: store, asker: asker}
	asker.Handle(Kind, i.answer, query.Options{Queue: 256})
	return i
}

// History returns up to limit of the latest changes this agent applied
// under prefix, newest first.
func (i *Insight) History(prefix string, limit int) []client.KVChange {
	cs := i.store.Recent(prefix, limit)
	out := make([]client.KVChange, len(cs))
	for j, c := range cs {
		out[j] = client.KVChange{
			Key: c.Key, Version: c.Version.String(), Origin: c.Version.Node, Index: c.Index,
			Deleted: c.Deleted, Seen: c.At.UTC(), Path: c.Path, LagSeconds: c.Lag().Seconds(),
		}
	}
	return out
}

// answer answers Kind from the local store.
func (i *Insight) answer(_ string, question []byte) ([]byte, error) {
	key := string(question)
	var k keyVersion
	if r, ok := i.store.Lookup(key); ok {
		k.has, k.deleted, k.version = true, r.Deleted, r.Version
		if c, ok := i.store.Applied(key); ok && c.Version == r.Version {
			k.applied = c.At
		}
	}
	return k.encode(), nil
}

// parseVersion reads "WALL.LOGICAL" as the API prints versions.
func parseVersion(s, origin string) (configsync.Version, error) {
	w, l, ok := strings.Cut(s, ".")
	wall, err1 := strconv.ParseInt(w, 10, 64)
	logical, err2 := strconv.ParseUint(l, 10, 32)
	if !ok || err1 != nil || err2 != nil || wall < 0 {
		return configsync.Version{}, fmt.Errorf("%w: version %q: want WALL.LOGICAL as the API prints it", ErrInvalid, s)
	}
	return configsync.Version{Wall: wall, Logical: uint32(logical), Node: origin}, nil
}

// Propagation asks every live agent which version of key it holds and
// when it applied it, waiting at most timeout for the answers. version
// ("WALL.LOGICAL") and origin name the version to compare with; "" for
// this agent's own. A malformed key or version wraps ErrInvalid.
func (i *Insight) Propagation(ctx context.Context, key, version, origin string, timeout time.Duration) (client.Propagation, error) {
	if err := i.store.Limits().CheckKey(key); err != nil {
		return client.Propagation{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var ref configsync.Version
	if version != "" {
		v, err := parseVersion(version, origin)
		if err != nil {
			return client.Propagation{}, err
		}
		ref = v
	} else if r, ok := i.store.Lookup(key); ok {
		ref = r.Version
	}
	out := client.Propagation{Key: key}
	if !ref.IsZero() {
		out.Version, out.Written = ref.String(), ref.Time().UTC()
	}
	res, err := i.asker.Ask(ctx, Kind, []byte(key), timeout)
	if err != nil {
		return client.Propagation{}, err
	}
	for node, r := range res {
		out.Nodes = append(out.Nodes, nodeVersion(node, r, ref))
	}
	slices.SortFunc(out.Nodes, func(x, y client.NodeVersion) int { return cmp.Compare(x.Node, y.Node) })
	return out, nil
}

// nodeVersion is one member's answer compared with ref.
func nodeVersion(node string, r query.Result, ref configsync.Version) client.NodeVersion {
	nv := client.NodeVersion{Node: node}
	k, err := decodeKeyVersion(r.Answer)
	if r.Err != nil {
		err = r.Err
	}
	if err != nil {
		nv.Error = err.Error()
		return nv
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
	return nv
}
