package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
)

func (s *server) kvGet(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	q := r.URL.Query()
	var mode string // "", "raw", "recurse" or "keys"
	for _, name := range []string{"raw", "recurse", "keys"} {
		on, err := queryBool(q, name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !on {
			continue
		}
		if mode != "" {
			s.fail(w, r, fmt.Errorf("%w: httpapi: parameters %s and %s cannot be combined", ErrBadRequest, mode, name))
			return
		}
		mode = name
	}
	index, wait, blocking, err := s.blockingParams(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	listing := mode == "recurse" || mode == "keys"
	if !listing && key == "" {
		s.fail(w, r, fmt.Errorf("%w: httpapi: missing key in /v1/kv/{key} (add ?recurse or ?keys to list a prefix)", ErrBadRequest))
		return
	}
	id := identity(r)
	switch {
	case !listing:
		if !s.allow(w, r, acl.KindKV, key, acl.Read) {
			return
		}
	case !id.CanSomeUnder(acl.KindKV, key, acl.Read):
		s.denied(w, r, id.Allow(acl.KindKV, key, acl.Read))
		return
	}
	if blocking {
		if !s.blocking.Acquire() {
			tooMany(w, r, 5, fmt.Sprintf("httpapi: too many blocking queries (http.max_blocking_queries is %d); retry later", s.blocking.Max()))
			return
		}
		err := s.waitKV(r, key, index, wait)
		s.blocking.Release()
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	// The index is read before the data: a write racing this read makes
	// the next blocking query return at once rather than be missed.
	w.Header().Set(client.IndexHeader, strconv.FormatUint(s.kv.Index(key), 10))
	switch mode {
	case "keys":
		keys := filter(s.kv.Keys(key), func(k string) bool { return id.Can(acl.KindKV, k, acl.Read) })
		if keys == nil {
			keys = []string{}
		}
		writeJSON(w, r, http.StatusOK, keys)
	case "recurse":
		pairs := filter(s.kv.List(key), func(p client.KVPair) bool { return id.Can(acl.KindKV, p.Key, acl.Read) })
		if len(pairs) == 0 {
			errorText(w, r, http.StatusNotFound, fmt.Sprintf("httpapi: no keys under prefix %q", key))
			return
		}
		writeJSON(w, r, http.StatusOK, pairs)
	default:
		p, err := s.kv.Get(key)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if mode == "raw" {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(p.Value)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(p.Value)
			return
		}
		writeJSON(w, r, http.StatusOK, p)
	}
}

// blockingParams parses ?index=N&wait=D. blocking is whether index is
// present; wait defaults to s.defWait and is clamped to s.maxWait.
func (s *server) blockingParams(q url.Values) (index uint64, wait time.Duration, blocking bool, err error) {
	wait = s.defWait
	if v := q.Get("wait"); v != "" {
		d, perr := time.ParseDuration(v)
		if perr != nil || d < 0 {
			return 0, 0, false, fmt.Errorf("%w: httpapi: invalid wait parameter %q: want a duration like 30s or 5m", ErrBadRequest, v)
		}
		wait = min(d, s.maxWait)
	}
	if !q.Has("index") {
		return 0, wait, false, nil
	}
	v := q.Get("index")
	index, perr := strconv.ParseUint(v, 10, 64)
	if perr != nil {
		return 0, 0, false, fmt.Errorf("%w: httpapi: invalid index parameter %q: want a non-negative integer from X-Murmur-Index", ErrBadRequest, v)
	}
	return index, wait, true, nil
}

// waitKV blocks until the index under prefix exceeds index, wait passes,
// the client goes away or Serve begins its shutdown. Only a failure of the
// store itself is an error: the caller answers the current state.
func (s *server) waitKV(r *http.Request, prefix string, index uint64, wait time.Duration) error {
	ctx, cancel := s.blockingContext(r, wait)
	defer cancel()
	_, err := s.kv.Wait(ctx, prefix, index)
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// WriteAllowed returns nil when the API may write key (or delete every
// key under the prefix key, when recurse), and an error wrapping
// ErrForbidden otherwise: keys under ReservedPrefix hold the agents'
// service catalog and are read-only through every HTTP face.
func WriteAllowed(key string, recurse bool) error {
	switch {
	case strings.HasPrefix(key, ReservedPrefix):
		return fmt.Errorf("%w: httpapi: keys under %s hold the agents' service catalog and are read-only through the API", ErrForbidden, ReservedPrefix)
	case recurse && strings.HasPrefix(ReservedPrefix, key):
		return fmt.Errorf("%w: httpapi: recursive delete of prefix %q would include the read-only %s keys; delete narrower prefixes",
			ErrForbidden, key, ReservedPrefix)
	}
	return nil
}

// filter keeps the elements of xs that keep says to, reusing xs.
func filter[T any](xs []T, keep func(T) bool) []T {
	out := xs[:0]
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (s *server) kvPut(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if key == "" {
		s.fail(w, r, fmt.Errorf("%w: httpapi: missing key in PUT /v1/kv/{key}", ErrBadRequest))
		return
	}
	if err := WriteAllowed(key, false); err != nil {
		s.fail(w, r, err)
		return
	}
	var flags uint64
	if v := r.URL.Query().Get("flags"); v != "" {
		f, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.fail(w, r, fmt.Errorf("%w: httpapi: invalid flags parameter %q: want a non-negative integer", ErrBadRequest, v))
			return
		}
		flags = f
	}
	value, err := s.readBody(w, r, "value")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.kv.Put(r.Context(), key, value, flags)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, p)
}

func (s *server) kvDelete(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	recurse, err := queryBool(r.URL.Query(), "recurse")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if key == "" && !recurse {
		s.fail(w, r, fmt.Errorf("%w: httpapi: missing key in DELETE /v1/kv/{key} (add ?recurse to delete every key)", ErrBadRequest))
		return
	}
	if err := WriteAllowed(key, recurse); err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case recurse:
		if !s.allowPrefix(w, r, acl.KindKV, key, acl.Write) {
			return
		}
	default:
		if !s.allow(w, r, acl.KindKV, key, acl.Write) {
			return
		}
	}
	n, err := s.kv.Delete(r.Context(), key, recurse)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, client.KVDeleteResponse{Deleted: n})
}
