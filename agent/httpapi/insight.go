package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
)

// The operator's view: blocking queries on membership, the agent's recent
// KV history, every agent's version of a key, and the web UI. Each backend
// is optional.

// MemberWatch makes GET /v1/members a blocking query like the KV reads.
// Methods are called concurrently from HTTP handlers.
type MemberWatch interface {
	// MembersIndex grows on every membership change (a join, a status
	// change, new metadata, a reap).
	MembersIndex() uint64
	// WaitMembers blocks until MembersIndex exceeds index or ctx is done,
	// and returns the current index; ctx's error when ctx ended the wait.
	WaitMembers(ctx context.Context, index uint64) (uint64, error)
}

// Insight reports what the agent saw of the KV store. Methods are called
// concurrently from HTTP handlers.
type Insight interface {
	// History returns up to limit of the latest changes this agent
	// applied under prefix, newest first.
	History(prefix string, limit int) []client.KVChange
	// Propagation asks every live agent which version of key it holds and
	// when it applied it, waiting at most timeout for the answers.
	// version ("WALL.LOGICAL") and origin name the version to compare
	// with; "" for this agent's own. A malformed one wraps ErrBadRequest.
	Propagation(ctx context.Context, key, version, origin string, timeout time.Duration) (client.Propagation, error)
}

// History limits.
const (
	defaultHistory = 100
	maxHistory     = 1000
	// DefaultPropagationTimeout bounds how long GET /v1/agent/propagation
	// waits for agents to answer when ?timeout is absent; MaxPropagation
	// clamps ?timeout.
	DefaultPropagationTimeout = 2 * time.Second
	MaxPropagationTimeout     = 30 * time.Second
)

func (s *server) routeInsight(m *http.ServeMux, ui http.Handler) {
	// The history lists only keys the token may read; the propagation of
	// a key needs kv:read on it.
	m.HandleFunc("GET /v1/agent/history", s.need(s.insight != nil, "the KV history", s.history))
	m.HandleFunc("GET /v1/agent/propagation/{key...}", s.need(s.insight != nil, "the propagation view",
		s.guard(acl.KindKV, acl.Read, pathValue("key"), s.propagation)))
	if ui == nil {
		return
	}
	m.Handle("GET /ui/", ui)
	m.HandleFunc("GET /ui", redirectUI)
	m.HandleFunc("GET /{$}", redirectUI)
}

func redirectUI(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/ui/", http.StatusFound)
}

// waitMembers handles ?index&wait on GET /v1/members and sets the index
// header; it answers false after writing an error.
func (s *server) waitMembers(w http.ResponseWriter, r *http.Request) bool {
	index, wait, blocking, err := s.blockingParams(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	if s.memWatch == nil {
		if blocking {
			errorText(w, r, http.StatusNotImplemented, "httpapi: blocking queries on members are not served by this agent")
			return false
		}
		return true
	}
	if blocking {
		if !s.blocking.Acquire() {
			tooMany(w, r, 5, fmt.Sprintf("httpapi: too many blocking queries (http.max_blocking_queries is %d); retry later", s.blocking.Max()))
			return false
		}
		ctx, cancel := s.blockingContext(r, wait)
		_, err := s.memWatch.WaitMembers(ctx, index)
		cancel()
		s.blocking.Release()
		if err != nil && ctx.Err() == nil {
			s.fail(w, r, err)
			return false
		}
	}
	w.Header().Set(client.IndexHeader, strconv.FormatUint(s.memWatch.MembersIndex(), 10))
	return true
}

func (s *server) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultHistory
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(w, r, fmt.Errorf("%w: httpapi: invalid limit parameter %q: want a positive integer", ErrBadRequest, v))
			return
		}
		limit = min(n, maxHistory)
	}
	id := identity(r)
	if !s.someReadable(w, r, id, acl.KindKV) {
		return
	}
	out := filter(s.insight.History(q.Get("prefix"), limit), func(c client.KVChange) bool {
		return id.Can(acl.KindKV, c.Key, acl.Read)
	})
	if out == nil {
		out = []client.KVChange{}
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (s *server) propagation(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if key == "" {
		s.fail(w, r, fmt.Errorf("%w: httpapi: missing key in /v1/agent/propagation/{key}", ErrBadRequest))
		return
	}
	q := r.URL.Query()
	timeout := DefaultPropagationTimeout
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			s.fail(w, r, fmt.Errorf("%w: httpapi: invalid timeout parameter %q: want a duration like 2s", ErrBadRequest, v))
			return
		}
		timeout = min(d, MaxPropagationTimeout)
	}
	p, err := s.insight.Propagation(r.Context(), key, q.Get("version"), q.Get("origin"), timeout)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p.Nodes == nil {
		p.Nodes = []client.NodeVersion{}
	}
	writeJSON(w, r, http.StatusOK, p)
}

// blockingContext is the context of a blocking query: it ends after wait,
// when the client goes away, or when Serve begins its shutdown.
func (s *server) blockingContext(r *http.Request, wait time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	if drain, ok := r.Context().Value(drainKey{}).(<-chan struct{}); ok {
		go func() {
			select {
			case <-drain:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}
