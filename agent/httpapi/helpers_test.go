package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testToken = "s3cret"

// exampleHost allows the Host httptest.NewRequest sends.
var exampleHost = httpapi.NewHostPolicy("example.com")

// call is one request of a table test.
type call struct {
	method string
	target string
	body   string
	header map[string]string
}

// want is the expected answer: the status, and substrings the body must
// contain (for errors, of the JSON error text).
type want struct {
	code int
	has  []string
}

// newHandler returns the API over a fresh fake backend with all three
// faces, the test token and options tweaked by opt.
func newHandler(t *testing.T, opt func(*httpapi.Options)) (http.Handler, *httpapitest.Backend) {
	t.Helper()
	b := httpapitest.New()
	// httptest.NewRequest sends "Host: example.com".
	o := httpapi.Options{Membership: b, KV: b, Services: b, Token: testToken, Hosts: exampleHost}
	if opt != nil {
		opt(&o)
	}
	return httpapi.New(o), b
}

func serve(h http.Handler, c call) *httptest.ResponseRecorder {
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	r := httptest.NewRequest(c.method, c.target, body)
	if c.method != http.MethodGet && c.method != http.MethodHead {
		r.Header.Set(client.TokenHeader, testToken)
	}
	for k, v := range c.header {
		switch {
		case k == "Host":
			r.Host = v
		case v == "":
			r.Header.Del(k)
		default:
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// check asserts the answer and, for an error status, that the body is the
// JSON error shape.
func check(t *testing.T, w *httptest.ResponseRecorder, wt want) {
	t.Helper()
	if w.Code != wt.code {
		t.Fatalf("status %d, want %d; body %s", w.Code, wt.code, w.Body)
	}
	text := w.Body.String()
	if w.Code >= 400 {
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("error Content-Type %q, want application/json", ct)
		}
		var e client.Error
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("error body %q is not {\"error\": ...}: %v", text, err)
		}
		text = e.Error
	}
	for _, s := range wt.has {
		if !strings.Contains(text, s) {
			t.Errorf("body %q does not contain %q", text, s)
		}
	}
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decoding %q: %v", w.Body, err)
	}
	return v
}
