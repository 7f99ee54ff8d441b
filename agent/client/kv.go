package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

const kvPath = "/v1/kv/"

// KVGet returns key; ErrNotFound when it is absent or deleted.
func (c *Client) KVGet(ctx context.Context, key string) (KVPair, error) {
	var out KVPair
	_, err := c.call(ctx, http.MethodGet, kvPath+keyPath(key), nil, nil, &out)
	return out, err
}

// KVGetRaw returns only the value bytes of key; ErrNotFound when absent.
func (c *Client) KVGetRaw(ctx context.Context, key string) ([]byte, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: kvPath + keyPath(key), query: url.Values{"raw": {""}}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, &UnreachableError{Addr: c.base.Host, Err: err}
	}
	return b, nil
}

// KVList returns the pairs under prefix sorted by key (none is an empty
// list, not an error).
func (c *Client) KVList(ctx context.Context, prefix string) ([]KVPair, error) {
	pairs, _, err := c.kvList(ctx, prefix, nil)
	return pairs, err
}

// KVListWait is the blocking form of KVList: the agent answers once the
// modification index under prefix exceeds index, or after wait (0: the
// agent's default, 5m; the agent clamps long waits). It also returns the
// index to pass to the next call. Index 0 waits for the first write under
// prefix; start from KVListIndex to get the current state at once.
func (c *Client) KVListWait(ctx context.Context, prefix string, index uint64, wait time.Duration) ([]KVPair, uint64, error) {
	return c.kvList(ctx, prefix, &blocking{index: index, wait: wait})
}

// KVListIndex is KVList that also returns the modification index under
// prefix, the starting point of KVListWait.
func (c *Client) KVListIndex(ctx context.Context, prefix string) ([]KVPair, uint64, error) {
	return c.kvList(ctx, prefix, nil)
}

type blocking struct {
	index uint64
	wait  time.Duration
}

func (c *Client) kvList(ctx context.Context, prefix string, b *blocking) ([]KVPair, uint64, error) {
	q := url.Values{"recurse": {""}}
	if b != nil {
		q.Set("index", strconv.FormatUint(b.index, 10))
		if b.wait > 0 {
			q.Set("wait", b.wait.String())
		}
	}
	req := request{method: http.MethodGet, path: kvPath + keyPath(prefix), query: q, allow404: true}
	resp, err := c.do(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	idx, err := parseIndex(resp.Header)
	if err != nil {
		return nil, 0, err
	}
	out := []KVPair{}
	if resp.StatusCode == http.StatusNotFound {
		// No key under the prefix: an empty list, not an error.
		_, _ = io.Copy(io.Discard, resp.Body)
		return out, idx, nil
	}
	if err := c.decode(ctx, resp, req, &out); err != nil {
		return nil, 0, err
	}
	return out, idx, nil
}

// KVKeys returns the keys under prefix, sorted.
func (c *Client) KVKeys(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	_, err := c.call(ctx, http.MethodGet, kvPath+keyPath(prefix), url.Values{"keys": {""}}, nil, &out)
	return out, err
}

// KVPut writes value (and the opaque flags) to key and returns the pair
// once the agent has made it durable.
func (c *Client) KVPut(ctx context.Context, key string, value []byte, flags uint64) (KVPair, error) {
	if value == nil {
		value = []byte{}
	}
	q := url.Values{}
	if flags != 0 {
		q.Set("flags", strconv.FormatUint(flags, 10))
	}
	req := request{method: http.MethodPut, path: kvPath + keyPath(key), query: q,
		body: value, ctype: "application/octet-stream"}
	resp, err := c.do(ctx, req)
	if err != nil {
		return KVPair{}, err
	}
	defer resp.Body.Close()
	var out KVPair
	if err := c.decode(ctx, resp, req, &out); err != nil {
		return KVPair{}, err
	}
	return out, nil
}

// KVDelete deletes key, or every key under the prefix key when recurse,
// and returns how many keys it deleted.
func (c *Client) KVDelete(ctx context.Context, key string, recurse bool) (int, error) {
	q := url.Values{}
	if recurse {
		q.Set("recurse", "")
	}
	var out KVDeleteResponse
	_, err := c.call(ctx, http.MethodDelete, kvPath+keyPath(key), q, nil, &out)
	return out.Deleted, err
}

// KVWatch calls fn with the current pairs under prefix, then with every
// change until ctx ends or fn returns an error: a changed or new key as
// its pair, a deleted key as KVEvent{Deleted: true} carrying only the key.
// Changes are found by comparing versions between blocking queries, so
// fn sees the latest state, not necessarily every intermediate value;
// events of one round come sorted by key. KVWatch returns fn's error, the
// context's error, or the first failure to query the agent (it does not
// retry).
func (c *Client) KVWatch(ctx context.Context, prefix string, fn func(KVEvent) error) error {
	pairs, idx, err := c.KVListIndex(ctx, prefix)
	if err != nil {
		return err
	}
	seen := map[string]KVPair{}
	for {
		for _, ev := range diff(seen, pairs) {
			if err := fn(ev); err != nil {
				return err
			}
		}
		pairs, idx, err = c.KVListWait(ctx, prefix, idx, 0)
		if err != nil {
			return err
		}
	}
}

// diff returns the events that turn seen into now, sorted by key, and
// updates seen.
func diff(seen map[string]KVPair, now []KVPair) []KVEvent {
	var evs []KVEvent
	live := make(map[string]bool, len(now))
	for _, p := range now {
		live[p.Key] = true
		if old, ok := seen[p.Key]; ok && old.Version == p.Version {
			continue
		}
		seen[p.Key] = p
		evs = append(evs, KVEvent{KVPair: p})
	}
	for k := range seen {
		if !live[k] {
			delete(seen, k)
			evs = append(evs, KVEvent{KVPair: KVPair{Key: k}, Deleted: true})
		}
	}
	slices.SortFunc(evs, func(a, b KVEvent) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return evs
}
