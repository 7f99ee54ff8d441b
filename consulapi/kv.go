package consulapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
)

// KV indexes. Consul's clients treat index 0 as "no index" (a blocking
// query with it answers at once), while Murmur's store starts at 0 and
// its first write is index 1. The face therefore shows every KV index as
// the store's index plus one, in X-Consul-Index and in CreateIndex and
// ModifyIndex alike: a key never written is 1, and a watcher holding 1
// wakes on the first write.
func kvIndex(storeIndex uint64) uint64 { return storeIndex + 1 }

func toKVPair(p client.KVPair) kvPair {
	return kvPair{
		Key: p.Key,
		// The store keeps one index per key, the last change's: Murmur
		// reports it as both indexes (docs/consul-compat.md).
		CreateIndex: kvIndex(p.Index),
		ModifyIndex: kvIndex(p.Index),
		Flags:       p.Flags,
		Value:       p.Value,
	}
}

func (s *server) kvGet(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if err := s.scope(r); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	b, err := blockingParams(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	recurse, keys, raw := queryBool(q, "recurse"), queryBool(q, "keys"), queryBool(q, "raw")
	sep := q.Get("separator")
	if !q.Has("separator") {
		sep = q.Get("seperator") // Consul's historic spelling, still accepted
	}
	if key == "" && !recurse && !keys {
		s.fail(w, r, badRequest("Missing key name (add ?recurse or ?keys to list the whole store)"))
		return
	}
	perm := allow(r, acl.KindKV, key, acl.Read)
	if recurse || keys {
		perm = allowSome(r, acl.KindKV, key)
	}
	if perm != nil {
		s.fail(w, r, perm)
		return
	}
	f := newFilter(r)
	if err := s.block(r, b, func(ctx context.Context, index uint64) error {
		_, err := s.kv.Wait(ctx, key, index-1)
		return err
	}); err != nil {
		s.fail(w, r, err)
		return
	}
	// The index is read before the data: a write racing this read makes
	// the next blocking query answer at once rather than be missed.
	setIndex(w, kvIndex(s.kv.Index(key)))
	switch {
	case keys:
		var readable []string
		for _, k := range s.kv.Keys(key) {
			if f.keep(acl.KindKV, k) {
				readable = append(readable, k)
			}
		}
		f.mark(w)
		ks := rollUp(readable, key, sep)
		if len(ks) == 0 && key != "" {
			w.WriteHeader(http.StatusNotFound) // Consul: 404 under a prefix, [] at the root
			return
		}
		writeJSON(w, r, ks)
	case recurse:
		var out []kvPair
		for _, p := range s.kv.List(key) {
			if f.keep(acl.KindKV, p.Key) {
				out = append(out, toKVPair(p))
			}
		}
		f.mark(w)
		if len(out) == 0 {
			w.WriteHeader(http.StatusNotFound) // Consul: 404, empty body
			return
		}
		writeJSON(w, r, out)
	default:
		p, err := s.kv.Get(key)
		if err != nil {
			if code, _ := s.explain(err); code == http.StatusNotFound {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			s.fail(w, r, err)
			return
		}
		if raw {
			// As Consul: a value is never sniffed or run as a page by a
			// browser that is sent to this URL.
			h := w.Header()
			h.Set("Content-Type", "text/plain")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Security-Policy", "sandbox")
			h.Set("Content-Length", strconv.Itoa(len(p.Value)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(p.Value)
			return
		}
		writeJSON(w, r, []kvPair{toKVPair(p)})
	}
}

// rollUp is Consul's ?keys&separator: keys under prefix, each cut after
// the first separator past the prefix, duplicates removed (a "folder"
// listing). keys is sorted, so equal cuts are adjacent.
func rollUp(keys []string, prefix, sep string) []string {
	out := []string{}
	for _, k := range keys {
		if sep != "" {
			if i := strings.Index(k[len(prefix):], sep); i >= 0 {
				k = k[:len(prefix)+i+len(sep)]
			}
		}
		if len(out) == 0 || out[len(out)-1] != k {
			out = append(out, k)
		}
	}
	return out
}

func (s *server) kvPut(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if err := cmpErr(s.scope(r), allow(r, acl.KindKV, key, acl.Write)); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	switch {
	case q.Has("cas"):
		s.fail(w, r, errCAS)
		return
	case q.Has("acquire"), q.Has("release"):
		s.fail(w, r, errLock)
		return
	case key == "":
		s.fail(w, r, badRequest("missing key in PUT /v1/kv/{key}"))
		return
	}
	var flags uint64
	if v := q.Get("flags"); v != "" {
		f, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.fail(w, r, badRequest("invalid flags %q: want a non-negative integer", v))
			return
		}
		flags = f
	}
	value, err := s.readBody(w, r, "value")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.kv.Put(r.Context(), key, value, flags); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, r, true)
}

func (s *server) kvDelete(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	q := r.URL.Query()
	recurse := queryBool(q, "recurse")
	perm := allow(r, acl.KindKV, key, acl.Write)
	if recurse {
		perm = allowPrefix(r, acl.KindKV, key, acl.Write)
	}
	if err := cmpErr(s.scope(r), perm); err != nil {
		s.fail(w, r, err)
		return
	}
	if q.Has("cas") {
		s.fail(w, r, errCAS)
		return
	}
	if key == "" && !recurse {
		s.fail(w, r, badRequest("missing key in DELETE /v1/kv/{key} (add ?recurse to delete every key)"))
		return
	}
	if _, err := s.kv.Delete(r.Context(), key, recurse); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, r, true)
}
