package consulapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/murmurhq/murmur/acl"
)

// Defaults of Options.
const (
	// DefaultDatacenter is the datacenter an agent reports when none is
	// configured, as Consul's default.
	DefaultDatacenter = "dc1"
	// DefaultMaxBodyBytes caps request bodies when Options.MaxBodyBytes
	// is 0: the default kv.max_value_bytes (512 KiB).
	DefaultMaxBodyBytes = 512 << 10
	// DefaultWait is how long a blocking query waits without ?wait, as
	// Consul.
	DefaultWait = 5 * time.Minute
	// MaxWait clamps ?wait, as Consul.
	MaxWait = 10 * time.Minute
	// bodyReadTimeout bounds how long a client may take to send a body.
	bodyReadTimeout = time.Minute
)

// Options configure the handler New returns. Nil backends answer 501
// on their routes.
type Options struct {
	KV      KV
	Catalog Catalog
	Agent   Agent
	// Datacenter is the name this agent answers for; a request for any
	// other ?dc= is 500 "No path to datacenter", as Consul answers for an
	// unknown one. Default DefaultDatacenter.
	Datacenter string
	// ACL resolves the request's token (X-Consul-Token, Authorization:
	// Bearer or ?token=; "" when none) to what it may do: the same
	// authorizer as the native API's, so a Murmur token means the same on
	// both faces. A token no one has is 403 "ACL not found", a missing
	// permission 403 "Permission denied: ..." (Consul's texts); listings
	// leave out what the token may not read and say so in
	// X-Consul-Results-Filtered-By-ACLs. Nil allows everything.
	ACL acl.Resolver
	// Hosts, when not nil, refuses requests whose Host header it does not
	// allow with 403 (DNS rebinding protection).
	Hosts Hosts
	// Blocking, when not nil, bounds the blocking queries waiting at once;
	// one more is 429 with Retry-After.
	Blocking Gate
	// Explain maps an error from a backend to the status code and the
	// text of the answer. Nil answers 500 with the error's text.
	Explain func(err error) (code int, text string)
	// Logger receives 5xx errors and recovered panics, with the attribute
	// component=consulapi added; nil discards.
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies (a KV value is the whole body).
	// Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Context, when it ends, makes every blocking query answer at once
	// with the current state, so that a graceful HTTP shutdown does not
	// wait out ten-minute long polls; the agent passes its run context.
	// Nil never ends.
	Context context.Context
}

type server struct {
	mux     *http.ServeMux
	kv      KV
	cat     Catalog
	agent   Agent
	dc      string
	acl     acl.Resolver
	hosts   Hosts
	gate    Gate
	explain func(error) (int, string)
	log     *slog.Logger
	maxBody int64
	ctx     context.Context
}

// New returns the Consul-compatible HTTP handler. It does not modify
// opts.
func New(opts Options) http.Handler {
	s := &server{
		mux:     http.NewServeMux(),
		kv:      opts.KV,
		cat:     opts.Catalog,
		agent:   opts.Agent,
		dc:      opts.Datacenter,
		acl:     opts.ACL,
		hosts:   opts.Hosts,
		gate:    opts.Blocking,
		explain: opts.Explain,
		log:     opts.Logger,
		maxBody: opts.MaxBodyBytes,
		ctx:     opts.Context,
	}
	if s.ctx == nil {
		s.ctx = context.Background()
	}
	if s.dc == "" {
		s.dc = DefaultDatacenter
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "consulapi")
	if s.explain == nil {
		s.explain = func(err error) (int, string) { return http.StatusInternalServerError, err.Error() }
	}
	if s.acl == nil {
		s.acl = allowAll{}
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.routes()
	return s
}

func (s *server) routes() {
	m := s.mux
	kv := func(h http.HandlerFunc) http.HandlerFunc { return s.need(s.kv != nil, "the key/value store", h) }
	cat := func(h http.HandlerFunc) http.HandlerFunc { return s.need(s.cat != nil, "the catalog", h) }
	ag := func(h http.HandlerFunc) http.HandlerFunc { return s.need(s.agent != nil, "the agent endpoints", h) }

	m.HandleFunc("GET /v1/kv/{key...}", kv(s.kvGet))
	m.HandleFunc("PUT /v1/kv/{key...}", kv(s.kvPut))
	m.HandleFunc("DELETE /v1/kv/{key...}", kv(s.kvDelete))
	m.HandleFunc("/v1/txn", s.refuse(errTxn))
	m.HandleFunc("/v1/session/", s.refuse(errSession))

	m.HandleFunc("GET /v1/catalog/services", cat(s.catalogServices))
	m.HandleFunc("GET /v1/catalog/service/{name}", cat(s.catalogService))
	m.HandleFunc("GET /v1/catalog/nodes", cat(s.catalogNodes))
	m.HandleFunc("GET /v1/catalog/node/{node}", cat(s.catalogNode))
	m.HandleFunc("GET /v1/catalog/datacenters", s.datacenters)
	m.HandleFunc("GET /v1/health/service/{name}", cat(s.healthService))
	m.HandleFunc("GET /v1/health/checks/{name}", cat(s.healthChecks))
	m.HandleFunc("GET /v1/health/node/{node}", cat(s.healthNode))
	m.HandleFunc("GET /v1/health/state/{state}", cat(s.healthState))

	m.HandleFunc("GET /v1/agent/self", ag(cat(s.agentSelf)))
	m.HandleFunc("GET /v1/agent/members", cat(s.agentMembers))
	m.HandleFunc("GET /v1/agent/services", ag(cat(s.agentServices)))
	m.HandleFunc("GET /v1/agent/service/{id}", ag(cat(s.agentService)))
	m.HandleFunc("GET /v1/agent/checks", ag(cat(s.agentChecks)))
	m.HandleFunc("PUT /v1/agent/service/register", ag(s.register))
	m.HandleFunc("PUT /v1/agent/service/deregister/{id}", ag(s.deregister))
	m.HandleFunc("PUT /v1/agent/check/pass/{id}", ag(s.checkTTL("passing")))
	m.HandleFunc("PUT /v1/agent/check/warn/{id}", ag(s.checkTTL("warning")))
	m.HandleFunc("PUT /v1/agent/check/fail/{id}", ag(s.checkTTL("critical")))
	m.HandleFunc("PUT /v1/agent/check/update/{id}", ag(s.checkUpdate))

	m.HandleFunc("GET /v1/status/leader", ag(s.statusLeader))
	m.HandleFunc("GET /v1/status/peers", cat(s.statusPeers))
	m.HandleFunc("GET /v1/coordinate/nodes", cat(s.coordinateNodes))
}

// ServeHTTP recovers panics into a 500 and rewrites the mux's own 404 and
// 405 answers with a hint.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			plain(w, http.StatusInternalServerError, "consulapi: internal error")
		}
	}()
	// Every answer says the data is the agent's own, as Consul's
	// ?stale reads do; see docs/consul-compat.md.
	h := w.Header()
	h.Set("X-Consul-KnownLeader", "true")
	h.Set("X-Consul-LastContact", "0")
	h.Set("X-Consul-Effective-Consistency", "stale")
	if s.hosts != nil && !s.hosts.Allowed(r.Host) {
		plain(w, http.StatusForbidden, fmt.Sprintf(
			"consulapi: host %q is not allowed (DNS rebinding protection): use an IP address or localhost, or add the name to http.allowed_hosts", r.Host))
		return
	}
	id, err := s.acl.Resolve(token(r))
	if err != nil {
		if errors.Is(err, acl.ErrUnknownToken) {
			plain(w, http.StatusForbidden, "ACL not found")
			return
		}
		s.fail(w, r, err)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &recorder{header: http.Header{}}
	s.mux.ServeHTTP(rec, r)
	switch rec.code {
	case http.StatusNotFound:
		plain(w, http.StatusNotFound, fmt.Sprintf(
			"consulapi: no such endpoint %s: this agent serves the subset of Consul's HTTP API listed in docs/consul-compat.md (KV, catalog, health, agent, status, coordinate); Murmur's own API is on http.addr",
			r.URL.Path))
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		plain(w, http.StatusMethodNotAllowed, fmt.Sprintf("consulapi: method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	default: // a redirect of an unclean path
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body.Bytes())
	}
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

func (s *server) need(ok bool, what string, h http.HandlerFunc) http.HandlerFunc {
	if ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusNotImplemented, "consulapi: "+what+" is not served by this agent")
	}
}

// Refusals: what cannot be honest over last-writer-wins gossip is refused,
// never emulated on one agent.
var (
	errCAS     = errors.New("consulapi: ?cas is not supported: Murmur's store is last-writer-wins gossip without consensus, so no agent can promise a check-and-set against the whole cluster; write unconditionally or keep the state that needs it in a consensus store")
	errLock    = errors.New("consulapi: ?acquire and ?release are not supported: locks need sessions and consensus, and Murmur replicates by last-writer-wins gossip with no leader")
	errTxn     = errors.New("consulapi: /v1/txn is not supported: transactions need consensus, and Murmur replicates each key independently by last-writer-wins gossip")
	errSession = errors.New("consulapi: /v1/session is not supported: sessions and locks need consensus, and Murmur replicates by last-writer-wins gossip with no leader")
	errFilter  = errors.New("consulapi: ?filter expressions are not supported by Murmur; filter on the client, or use ?tag, ?passing and ?node-meta")
)

// errStatus carries its own status code.
type errStatus struct {
	code int
	err  error
}

func (e errStatus) Error() string { return e.err.Error() }
func (e errStatus) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return errStatus{http.StatusBadRequest, fmt.Errorf("consulapi: "+format, args...)}
}

func (s *server) refuse(err error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusNotImplemented, err.Error())
	}
}

// plain answers code with text, as Consul answers errors.
func plain(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Del("X-Consul-Index")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, text+"\n")
}

// fail answers err: its own code for the face's errors, the backend's
// otherwise.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var es errStatus
	code, text, backend := 0, "", false
	switch {
	case errors.As(err, &es): // the request's fault, even a 500 for ?dc
		code, text = es.code, err.Error()
	case errors.Is(err, errCAS), errors.Is(err, errLock), errors.Is(err, errFilter):
		code, text = http.StatusNotImplemented, err.Error()
	default:
		code, text = s.explain(err)
		backend = true
	}
	if backend && code >= 500 && r.Context().Err() == nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", code), slog.String("error", err.Error()))
	}
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	plain(w, code, text)
}

// writeJSON answers 200 with v; ?pretty indents.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	if r.URL.Query().Has("pretty") {
		enc.SetIndent("", "    ")
	}
	_ = enc.Encode(v)
}

// token is the request's token: X-Consul-Token, Authorization: Bearer,
// or ?token=, the first one present.
func token(r *http.Request) string {
	if t := r.Header.Get("X-Consul-Token"); t != "" {
		return t
	}
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(t)
	}
	return r.URL.Query().Get("token")
}

// scope checks the parameters that say where a request applies: the
// datacenter is this agent's, and there are no namespaces, partitions,
// peers or filter expressions.
func (s *server) scope(r *http.Request) error {
	q := r.URL.Query()
	if dc := q.Get("dc"); dc != "" && dc != s.dc {
		// Consul's answer for a datacenter it has no route to.
		return errStatus{http.StatusInternalServerError, fmt.Errorf("No path to datacenter (this Murmur agent serves datacenter %q only)", s.dc)}
	}
	for _, p := range []string{"ns", "namespace", "partition", "ap", "peer", "sameness-group"} {
		if v := q.Get(p); v != "" && v != "default" {
			return badRequest("?%s=%s: Murmur has no namespaces, partitions or peers; leave the parameter out", p, v)
		}
	}
	if q.Get("filter") != "" {
		return errFilter
	}
	return nil
}

// cmpErr returns the first non-nil error: the preamble checks in order.
func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// blocking is a parsed ?index and ?wait.
type blocking struct {
	index uint64
	wait  time.Duration
}

// blockingParams parses ?index and ?wait. Index 0 (or none) does not
// block, as in Consul. ?wait takes Consul's forms: a Go duration ("30s",
// "5m", "100ms") or a bare number of seconds.
func blockingParams(q url.Values) (blocking, error) {
	b := blocking{wait: DefaultWait}
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			n, nerr := strconv.ParseUint(v, 10, 32)
			if nerr != nil {
				return b, badRequest("invalid wait %q: want a duration like 30s, 5m or 100ms", v)
			}
			d = time.Duration(n) * time.Second
		}
		if d < 0 {
			return b, badRequest("invalid wait %q: negative", v)
		}
		if d > 0 {
			b.wait = min(d, MaxWait)
		}
	}
	if v := q.Get("index"); v != "" {
		i, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return b, badRequest("invalid index %q: want the number from X-Consul-Index", v)
		}
		b.index = i
	}
	return b, nil
}

// block waits, when the request asks for it, until wait returns (the
// index grew past the client's), the wait time passes, the client goes
// away or Options.Context ends. Only a failure of the backend is an error: the
// caller answers the current state.
func (s *server) block(r *http.Request, b blocking, wait func(ctx context.Context, index uint64) error) error {
	if b.index == 0 {
		return nil
	}
	if s.gate != nil {
		if !s.gate.Acquire() {
			return errStatus{http.StatusTooManyRequests, errors.New("consulapi: too many blocking queries waiting on this agent (http.max_blocking_queries); retry later")}
		}
		defer s.gate.Release()
	}
	// Consul adds up to wait/16 of jitter so that many watchers with
	// the same wait do not all come back at once.
	d := b.wait + rand.N(b.wait/16+1)
	ctx, cancel := context.WithTimeout(r.Context(), d)
	defer cancel()
	// A callback, not a goroutine per watcher: a thousand parked watchers
	// cost a thousand handler goroutines and no more.
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	err := wait(ctx, b.index)
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// setIndex sets X-Consul-Index. Consul's clients treat 0 as "no index",
// so it is never 0.
func setIndex(w http.ResponseWriter, index uint64) {
	w.Header().Set("X-Consul-Index", strconv.FormatUint(max(index, 1), 10))
}

// readBody reads the whole request body up to the body cap.
func (s *server) readBody(w http.ResponseWriter, r *http.Request, what string) ([]byte, error) {
	tooLarge := errStatus{http.StatusRequestEntityTooLarge, fmt.Errorf("consulapi: %s exceeds the limit of %d bytes", what, s.maxBody)}
	if r.ContentLength > s.maxBody {
		return nil, tooLarge
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)) // unsupported by test recorders
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, badRequest("reading request body: %v", err)
	}
	return b, nil
}

// queryBool reads a flag parameter: present without a value, or any
// value but "false" and "0", is true (Consul only tests presence).
func queryBool(q url.Values, name string) bool {
	if !q.Has(name) {
		return false
	}
	v := q.Get(name)
	return v != "false" && v != "0"
}
