package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Wire constants shared with agent/httpapi.
const (
	// DefaultAddr is the agent's default HTTP address.
	DefaultAddr = "127.0.0.1:7947"
	// DefaultPort is added to an address given without a port.
	DefaultPort = "7947"
	// IndexHeader carries the agent's modification index on KV reads.
	IndexHeader = "X-Murmur-Index"
	// TokenHeader carries the write token.
	TokenHeader = "X-Murmur-Token"
)

// Conditions callers branch on; an *APIError matches the one of its status
// code with errors.Is, an *UnreachableError matches ErrUnreachable.
var (
	ErrBadRequest   = errors.New("client: bad request")       // 400
	ErrUnauthorized = errors.New("client: unauthorized")      // 401
	ErrForbidden    = errors.New("client: forbidden")         // 403
	ErrNotFound     = errors.New("client: not found")         // 404
	ErrConflict     = errors.New("client: conflict")          // 409
	ErrTooLarge     = errors.New("client: too large")         // 413
	ErrTooMany      = errors.New("client: too many requests") // 429: retry after the Retry-After header
	ErrUnavailable  = errors.New("client: unavailable")       // 503
	ErrUnreachable  = errors.New("client: agent unreachable")
)

var statusErrors = map[int]error{
	http.StatusBadRequest:            ErrBadRequest,
	http.StatusUnauthorized:          ErrUnauthorized,
	http.StatusForbidden:             ErrForbidden,
	http.StatusNotFound:              ErrNotFound,
	http.StatusConflict:              ErrConflict,
	http.StatusRequestEntityTooLarge: ErrTooLarge,
	http.StatusTooManyRequests:       ErrTooMany,
	http.StatusServiceUnavailable:    ErrUnavailable,
}

// APIError is a non-2xx answer of the agent.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the agent's error text ({"error": ...}), or the body or
	// status text when the answer was not the JSON error shape.
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("client: agent answered %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is makes errors.Is(err, ErrNotFound) true for a 404, and likewise for
// the other status sentinels.
func (e *APIError) Is(target error) bool {
	s, ok := statusErrors[e.StatusCode]
	return ok && s == target
}

// UnreachableError is a failure to talk to the agent at all: connection
// refused, no such host, a dropped connection.
type UnreachableError struct {
	// Addr is the agent's HOST:PORT.
	Addr string
	// Err is the transport error.
	Err error
}

func (e *UnreachableError) Error() string {
	return "client: cannot reach agent at " + e.Addr + ": " + e.Reason()
}

// Reason is the short cause, e.g. "connection refused".
func (e *UnreachableError) Reason() string {
	var se *os.SyscallError
	var dns *net.DNSError
	var op *net.OpError
	var ue *url.Error
	switch {
	case errors.As(e.Err, &se):
		return se.Err.Error()
	case errors.As(e.Err, &dns):
		return dns.Error()
	case errors.As(e.Err, &op):
		return op.Err.Error()
	case errors.As(e.Err, &ue):
		return ue.Err.Error()
	}
	return e.Err.Error()
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// Option configures New.
type Option func(*Client)

// WithToken sends token with every request (needed for writes when the
// agent sets http.token).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient uses hc instead of a default client. Its Timeout must
// leave room for blocking queries (KVWatch waits up to the agent's wait).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTLS sets the TLS configuration of HTTPS requests (the CA to trust,
// a client certificate for mutual TLS); see TLSConfig. Ignored with
// WithHTTPClient, whose transport decides.
func WithTLS(cfg *tls.Config) Option { return func(c *Client) { c.tls = cfg } }

// TLSConfig builds the TLS configuration of a client from PEM files:
// caFile (the CA that signed the agent's certificate; "" trusts the
// system's roots) and, for mutual TLS, certFile and keyFile. Errors name
// the file.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: CA file %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("client: a client certificate needs both its certificate and its key file")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client: client certificate %s, key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Client talks to one agent. It is safe for concurrent use.
type Client struct {
	base  url.URL // scheme and host
	token string
	tls   *tls.Config
	hc    *http.Client
}

// New returns a client of the agent at addr: "HOST:PORT", "HOST" (port
// 7947) or an http:// or https:// URL.
func New(addr string, opts ...Option) (*Client, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return nil, errors.New("client: empty agent address")
	}
	var u *url.URL
	if strings.Contains(addr, "://") {
		var err error
		u, err = url.Parse(addr)
		if err != nil {
			return nil, fmt.Errorf("client: invalid agent address %q: %w", addr, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("client: invalid agent address %q: scheme %q is not http or https", addr, u.Scheme)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("client: invalid agent address %q: no host", addr)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("client: invalid agent address %q: want no path or query", addr)
		}
	} else {
		u = &url.URL{Scheme: "http", Host: addr}
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		u.Host = net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(u.Host, "["), "]"), DefaultPort)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || strings.ContainsAny(host, "/ \t@") {
		return nil, fmt.Errorf("client: invalid agent address %q: want HOST:PORT or a URL", addr)
	}
	c := &Client{base: url.URL{Scheme: u.Scheme, Host: u.Host}}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{}
		if c.tls != nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = c.tls
			c.hc.Transport = t
		}
	}
	return c, nil
}

// Addr returns the agent's HOST:PORT as requests use it.
func (c *Client) Addr() string { return c.base.Host }

// request is one API call.
type request struct {
	method string
	path   string // already escaped
	query  url.Values
	body   []byte
	ctype  string
	// allow404 returns a 404 answer like a 2xx one (a KV list with no
	// key still carries the index header).
	allow404 bool
	// allow500 returns a 500 answer like a 2xx one (a keyring report).
	allow500 bool
}

// do sends req and returns the response of a 2xx answer; the caller closes
// its body.
func (c *Client) do(ctx context.Context, req request) (*http.Response, error) {
	u := c.base
	u.RawPath = req.path
	u.Path, _ = url.PathUnescape(req.path)
	u.RawQuery = req.query.Encode()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", req.method, req.path, err)
	}
	if req.ctype != "" {
		hr.Header.Set("Content-Type", req.ctype)
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", "murmur-client")
	if c.token != "" {
		hr.Header.Set(TokenHeader, c.token)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, &UnreachableError{Addr: c.base.Host, Err: err}
	}
	if (resp.StatusCode >= 200 && resp.StatusCode < 300) || (req.allow404 && resp.StatusCode == http.StatusNotFound) ||
		(req.allow500 && resp.StatusCode == http.StatusInternalServerError) {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readAPIError(resp)
}

// readAPIError turns a non-2xx answer into an *APIError.
func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{StatusCode: resp.StatusCode}
	var body Error
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		e.Message = body.Error
	} else if s := strings.TrimSpace(string(b)); s != "" {
		e.Message = s
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// call sends a request with an optional JSON body in and decodes a JSON
// answer into out when out is not nil. It returns the answer's headers.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) (http.Header, error) {
	req := request{method: method, path: path, query: query}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("client: encoding %s %s: %w", method, path, err)
		}
		req.body, req.ctype = b, "application/json"
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Header, nil
	}
	if err := c.decode(ctx, resp, req, out); err != nil {
		return nil, err
	}
	return resp.Header, nil
}

// decode reads a JSON answer into out.
func (c *Client) decode(ctx context.Context, resp *http.Response, req request, out any) error {
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("client: decoding answer of %s %s from %s: %w", req.method, req.path, c.base.Host, err)
	}
	return nil
}

// segment escapes one path segment so the agent's router neither splits
// nor cleans it.
func segment(s string) string {
	e := url.PathEscape(s)
	if s == "." || s == ".." || s == "" {
		// Dots survive PathEscape but would be cleaned away by the router.
		e = strings.ReplaceAll(e, ".", "%2E")
	}
	return e
}

// keyPath escapes a KV key for /v1/kv/{key...}: segment by segment when
// the router would leave the path alone, else as one segment with its
// slashes escaped, so keys like "a//b" or "x/../y" reach the agent intact.
func keyPath(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		if s == "." || s == ".." || (s == "" && i < len(segs)-1) {
			return strings.ReplaceAll(url.PathEscape(key), ".", "%2E")
		}
	}
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func parseIndex(h http.Header) (uint64, error) {
	v := h.Get(IndexHeader)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("client: answer has no valid %s header (%q)", IndexHeader, v)
	}
	return n, nil
}
