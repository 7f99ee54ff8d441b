package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
)

// Defaults of Options.
const (
	// DefaultMaxBodyBytes is the request body cap when Options.MaxBodyBytes
	// is 0: the default kv.max_value_bytes (512 KiB).
	DefaultMaxBodyBytes = 512 << 10
	// DefaultWait is how long a blocking query waits when ?wait is absent.
	DefaultWait = 5 * time.Minute
	// DefaultMaxWait is the clamp of ?wait when Options.MaxWait is 0.
	DefaultMaxWait = 10 * time.Minute
	// DefaultMaxBlocking is the Gate of blocking queries when
	// Options.Blocking is nil (http.max_blocking_queries).
	DefaultMaxBlocking = 512
	// ReservedPrefix is the KV namespace of the agents' service catalog:
	// readable through the API, never writable.
	ReservedPrefix = "_murmur/"
	// bodyReadTimeout bounds how long a client may take to send a body.
	bodyReadTimeout = time.Minute
)

// Options configure the handler New returns. The zero value of every field
// is usable.
type Options struct {
	// Membership serves /v1/members, /v1/agent/{self,join,leave},
	// /v1/coordinates and /v1/rtt; nil answers 501 there.
	Membership Membership
	// KV serves /v1/kv/; nil answers 501 there.
	KV KV
	// Services serves /v1/services and /v1/agent/{service,check}/; nil
	// answers 501 there.
	Services Services
	// Keyring serves /v1/keyring; nil answers 501 there.
	Keyring Keyring
	// ACL resolves the token of each request (X-Murmur-Token or
	// Authorization: Bearer) to an identity, and every route checks the
	// permission it needs (docs/security.md). When nil, Token decides.
	ACL acl.Resolver
	// Token is used only when ACL is nil: when not empty, every write
	// (PUT, POST, DELETE) needs it and reads are open; when empty,
	// everything is allowed.
	Token string
	// Hosts checks the Host header (DNS rebinding); nil allows IP
	// literals and localhost only.
	Hosts *HostPolicy
	// Blocking bounds the blocking queries waiting at once (429 beyond);
	// nil: a Gate of DefaultMaxBlocking.
	Blocking *Gate
	// Logger receives 5xx errors and recovered panics, with the attribute
	// component=httpapi added by New; nil discards.
	Logger *slog.Logger
	// Metrics, when not nil, is served at GET /metrics (Prometheus);
	// otherwise that path is 404.
	Metrics http.Handler
	// MaxBodyBytes caps request bodies (a KV value is the whole body); a
	// bigger body is 413 naming the limit. The agent sets it to
	// kv.max_value_bytes. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxWait clamps the ?wait of blocking queries. Default
	// DefaultMaxWait; the default wait is DefaultWait or MaxWait when
	// smaller.
	MaxWait time.Duration
	// MemberWatch, when not nil, makes GET /v1/members a blocking query
	// (?index&wait) and adds X-Murmur-Index to its answers.
	MemberWatch MemberWatch
	// Insight serves /v1/agent/history and /v1/agent/propagation/; nil
	// answers 501 there.
	Insight Insight
	// UI, when not nil, is the web dashboard, served under GET /ui/ (and
	// / redirects there).
	UI http.Handler
	// Observe, when not nil, is called after every request with its route
	// (the pattern it matched, e.g. "GET /v1/kv/{key...}", or "other"),
	// the status code and how long it took. It is called concurrently and
	// must be quick.
	Observe func(route string, code int, took time.Duration)
}

type server struct {
	mux      *http.ServeMux
	mem      Membership
	kv       KV
	svc      Services
	keyring  Keyring
	acl      acl.Resolver
	hosts    *HostPolicy
	blocking *Gate
	memWatch MemberWatch
	insight  Insight
	observe  func(route string, code int, took time.Duration)
	log      *slog.Logger
	maxBody  int64
	maxWait  time.Duration
	defWait  time.Duration
	// node caches this agent's node name (agent rules name it).
	node atomic.Pointer[string]
}

// New returns the HTTP API handler. It does not modify opts.
func New(opts Options) http.Handler {
	s := &server{
		mux:      http.NewServeMux(),
		mem:      opts.Membership,
		kv:       opts.KV,
		svc:      opts.Services,
		keyring:  opts.Keyring,
		acl:      opts.ACL,
		hosts:    opts.Hosts,
		blocking: opts.Blocking,
		memWatch: opts.MemberWatch,
		insight:  opts.Insight,
		observe:  opts.Observe,
		log:      opts.Logger,
		maxBody:  opts.MaxBodyBytes,
		maxWait:  opts.MaxWait,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "httpapi")
	if s.acl == nil {
		s.acl = &acl.Live{} // everything allowed
		if opts.Token != "" {
			a, err := acl.New(acl.Config{Default: acl.DefaultRead}, opts.Token)
			if err != nil {
				panic(err) // cannot fail: no tokens, a valid default
			}
			s.acl = a
		}
	}
	if s.blocking == nil {
		s.blocking = NewGate(DefaultMaxBlocking)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxWait <= 0 {
		s.maxWait = DefaultMaxWait
	}
	s.defWait = min(DefaultWait, s.maxWait)

	m := s.mux
	const (
		kv, svc, agent, keyring = acl.KindKV, acl.KindService, acl.KindAgent, acl.KindKeyring
		read, write             = acl.Read, acl.Write
	)
	// Reads of lists filter per name inside the handler; the others need
	// one permission, checked here.
	m.HandleFunc("GET /v1/members", s.needMembership(s.members))
	m.HandleFunc("GET /v1/agent/self", s.needMembership(s.guard(agent, read, s.selfNode, s.self)))
	m.HandleFunc("PUT /v1/agent/join", s.needMembership(s.guard(agent, write, s.selfNode, s.join)))
	m.HandleFunc("PUT /v1/agent/leave", s.needMembership(s.guard(agent, write, s.selfNode, s.leave)))
	m.HandleFunc("GET /v1/coordinates", s.needMembership(s.coordinates))
	m.HandleFunc("GET /v1/rtt", s.needMembership(s.rtt))

	m.HandleFunc("GET /v1/kv/{key...}", s.needKV(s.kvGet))
	m.HandleFunc("PUT /v1/kv/{key...}", s.needKV(s.guard(kv, write, pathValue("key"), s.kvPut)))
	m.HandleFunc("DELETE /v1/kv/{key...}", s.needKV(s.kvDelete))

	m.HandleFunc("PUT /v1/agent/service/register", s.needServices(s.register))
	m.HandleFunc("PUT /v1/agent/service/deregister/{id}", s.needServices(s.guard(svc, write, s.serviceOf, s.deregister)))
	m.HandleFunc("PUT /v1/agent/check/pass/{id}", s.needServices(s.guard(svc, write, s.serviceOf, s.check(client.HealthPassing))))
	m.HandleFunc("PUT /v1/agent/check/warn/{id}", s.needServices(s.guard(svc, write, s.serviceOf, s.check(client.HealthWarning))))
	m.HandleFunc("PUT /v1/agent/check/fail/{id}", s.needServices(s.guard(svc, write, s.serviceOf, s.check(client.HealthCritical))))
	m.HandleFunc("GET /v1/services", s.needServices(s.services))
	m.HandleFunc("GET /v1/services/{name}", s.needServices(s.guard(svc, read, pathValue("name"), s.service)))

	m.HandleFunc("GET /v1/keyring", s.needKeyring(s.guard(keyring, read, noName, s.keyringList)))
	m.HandleFunc("PUT /v1/keyring/install", s.needKeyring(s.guard(keyring, write, noName, s.keyringOp(KeyringInstall))))
	m.HandleFunc("PUT /v1/keyring/use", s.needKeyring(s.guard(keyring, write, noName, s.keyringOp(KeyringUse))))
	m.HandleFunc("PUT /v1/keyring/remove", s.needKeyring(s.guard(keyring, write, noName, s.keyringOp(KeyringRemove))))

	s.routeInsight(m, opts.UI)
	if opts.Metrics != nil {
		m.Handle("GET /metrics", s.guard(agent, read, s.selfNode, opts.Metrics.ServeHTTP))
	}
	return s
}

// ServeHTTP recovers panics into a 500, turns the mux's plain-text 404
// and 405 answers into JSON errors, and reports each request to Observe.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.observe != nil {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		defer func() {
			_, route := s.mux.Handler(r)
			if route == "" {
				route = "other"
			}
			s.observe(route, sw.status(), time.Since(start))
		}()
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			errorText(w, r, http.StatusInternalServerError, "httpapi: internal error")
		}
	}()
	if !s.hosts.Check(w, r) {
		return
	}
	r, ok := s.resolve(w, r)
	if !ok {
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.code {
	case http.StatusNotFound:
		errorText(w, r, http.StatusNotFound, fmt.Sprintf("httpapi: no such path %s", r.URL.Path))
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		errorText(w, r, http.StatusMethodNotAllowed,
			fmt.Sprintf("httpapi: method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body.Bytes())
	}
}

// recorder captures the mux's own answers (404, 405) so they can be
// rewritten as JSON.
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

func requestToken(r *http.Request) string {
	if t := r.Header.Get(client.TokenHeader); t != "" {
		return t
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return ""
}

func (s *server) needMembership(h http.HandlerFunc) http.HandlerFunc {
	return s.need(s.mem != nil, "membership", h)
}

func (s *server) needKV(h http.HandlerFunc) http.HandlerFunc {
	return s.need(s.kv != nil, "the key/value store", h)
}

func (s *server) needServices(h http.HandlerFunc) http.HandlerFunc {
	return s.need(s.svc != nil, "the service catalog", h)
}

func (s *server) needKeyring(h http.HandlerFunc) http.HandlerFunc {
	return s.need(s.keyring != nil, "the gossip keyring", h)
}

func (s *server) need(ok bool, what string, h http.HandlerFunc) http.HandlerFunc {
	if ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		errorText(w, r, http.StatusNotImplemented, "httpapi: "+what+" is not served by this agent")
	}
}

// readBody reads the whole request body up to the body cap; what names
// the body in the 413 error.
func (s *server) readBody(w http.ResponseWriter, r *http.Request, what string) ([]byte, error) {
	tooLarge := fmt.Errorf("%w: %s exceeds the limit of %d bytes", ErrTooLarge, what, s.maxBody)
	if what == "value" {
		// The agent sets the body cap from the value limit.
		tooLarge = fmt.Errorf("%w: value exceeds the limit of %d bytes (kv.max_value_bytes)", ErrTooLarge, s.maxBody)
	}
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
		return nil, fmt.Errorf("%w: httpapi: reading request body: %w", ErrBadRequest, err)
	}
	return b, nil
}

// readJSON reads the body and decodes it into v, refusing unknown fields
// so a misspelt field is an error that names it.
func (s *server) readJSON(w http.ResponseWriter, r *http.Request, what string, v any) error {
	b, err := s.readBody(w, r, "request body")
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return fmt.Errorf("%w: httpapi: request body is empty, want a JSON %s", ErrBadRequest, what)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: httpapi: invalid JSON %s: %w", ErrBadRequest, what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: httpapi: invalid JSON %s: trailing data after the object", ErrBadRequest, what)
	}
	return nil
}

// queryBool reads a flag parameter: present without a value is true,
// otherwise the value must parse as a bool.
func queryBool(q url.Values, name string) (bool, error) {
	if !q.Has(name) {
		return false, nil
	}
	v := q.Get(name)
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: httpapi: invalid %s parameter %q: want no value, true or false", ErrBadRequest, name, v)
	}
	return b, nil
}

// ShutdownTimeout bounds Serve's graceful shutdown; connections still busy
// after it are closed.
const ShutdownTimeout = 5 * time.Second

// drainKey carries, in every request context of Serve, a channel closed
// when shutdown begins: blocking queries answer at once instead of holding
// the shutdown up.
type drainKey struct{}

// Serve is ServeWith with only a logger.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	return ServeWith(ctx, ln, h, ServeConfig{Logger: logger})
}

// ServeConfig configures ServeWith. The zero value serves plain HTTP with
// no connection limits.
type ServeConfig struct {
	// Logger (nil discards) receives the server's own errors when
	// ErrorLog is nil, with component=httpapi.
	Logger *slog.Logger
	// ErrorLog, when set, receives net/http's errors (failed TLS
	// handshakes and other client faults) instead of Logger.
	ErrorLog *log.Logger
	// TLS, when set, serves HTTPS with it (tls.NewListener). To reload
	// certificates, return them from its GetConfigForClient.
	TLS *tls.Config
	// Conns, when set, bounds the open connections: one over a limit is
	// answered 429 with Retry-After and closed.
	Conns *ConnLimits
}

// ServeWith answers requests on ln with h until ctx is done, then shuts
// down: it stops accepting, lets blocking queries answer with the current
// state, waits up to ShutdownTimeout for requests in flight and closes the
// rest. It returns nil after a shutdown caused by ctx and the listener's
// error otherwise, or an error when requests still busy after
// ShutdownTimeout had to be cut.
func ServeWith(ctx context.Context, ln net.Listener, h http.Handler, cfg ServeConfig) error {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	errLog := cfg.ErrorLog
	if errLog == nil {
		errLog = slog.NewLogLogger(logger.With("component", "httpapi").Handler(), slog.LevelWarn)
	}
	if cfg.Conns != nil {
		ln = cfg.Conns.Listener(ln)
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if over, _ := r.Context().Value(overLimitKey{}).(string); over != "" {
				w.Header().Set("Connection", "close")
				tooMany(w, r, 1, over)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	drain := make(chan struct{})
	base := context.WithValue(context.WithoutCancel(ctx), drainKey{}, (<-chan struct{})(drain))
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       connContext,
		ErrorLog:          errLog,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		close(drain)
		return fmt.Errorf("httpapi: serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	close(drain)
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
	}
	<-errc // http.ErrServerClosed
	if err != nil {
		return fmt.Errorf("httpapi: shutdown: %w", err)
	}
	return nil
}

// statusWriter remembers the status code of an answer.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (read
// deadlines of request bodies).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
