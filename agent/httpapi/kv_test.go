package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
)

// seedKV writes app/a=1, app/b=2 (flags 7), other=3 and the reserved
// _murmur/svc/node1 as an agent would.
func seedKV(t *testing.T, b *httpapitest.Backend) {
	t.Helper()
	for _, kv := range []struct {
		k, v  string
		flags uint64
	}{{"app/a", "1", 0}, {"app/b", "2", 7}, {"other", "3", 0}, {"_murmur/svc/node1", "{}", 0}} {
		if _, err := b.Put(context.Background(), kv.k, []byte(kv.v), kv.flags); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKVGet(t *testing.T) {
	tests := []struct {
		name   string
		target string
		want   want
		index  string // expected X-Murmur-Index; "" for none expected
		check  func(t *testing.T, w *httptest.ResponseRecorder)
	}{
		{"pair", "/v1/kv/app/b", want{200, []string{`"key":"app/b"`, `"value":"Mg=="`, `"flags":7`, `"origin":"node1"`}}, "2", nil},
		{"raw", "/v1/kv/app/b?raw", want{200, nil}, "2", func(t *testing.T, w *httptest.ResponseRecorder) {
			if w.Body.String() != "2" || w.Header().Get("Content-Type") != "application/octet-stream" {
				t.Errorf("raw answer %q (%s)", w.Body, w.Header().Get("Content-Type"))
			}
		}},
		{"raw=true", "/v1/kv/other?raw=true", want{200, []string{"3"}}, "3", nil},
		{"raw=false is json", "/v1/kv/other?raw=false", want{200, []string{`"key":"other"`}}, "3", nil},
		{"missing", "/v1/kv/app/zz", want{404, []string{`key "app/zz" not found`}}, "0", nil},
		{"raw missing", "/v1/kv/app/zz?raw", want{404, []string{"not found"}}, "0", nil},
		{"reserved is readable", "/v1/kv/_murmur/svc/node1", want{200, []string{"_murmur/svc/node1"}}, "4", nil},
		{"recurse", "/v1/kv/app/?recurse", want{200, nil}, "2", func(t *testing.T, w *httptest.ResponseRecorder) {
			ps := decode[[]client.KVPair](t, w)
			if len(ps) != 2 || ps[0].Key != "app/a" || ps[1].Key != "app/b" || string(ps[1].Value) != "2" {
				t.Errorf("recurse %+v", ps)
			}
		}},
		{"recurse everything", "/v1/kv/?recurse", want{200, []string{"app/a", "other", "_murmur/"}}, "4", nil},
		{"recurse none", "/v1/kv/nope/?recurse", want{404, []string{`no keys under prefix "nope/"`}}, "0", nil},
		{"keys", "/v1/kv/app?keys", want{200, []string{`["app/a","app/b"]`}}, "2", nil},
		{"keys none", "/v1/kv/nope?keys", want{200, []string{"[]"}}, "0", nil},
		{"keys everything", "/v1/kv/?keys", want{200, []string{`["_murmur/svc/node1","app/a","app/b","other"]`}}, "4", nil},
		{"escaped slashes", "/v1/kv/app%2Fa", want{200, []string{`"key":"app/a"`}}, "1", nil},
		{"no key", "/v1/kv/", want{400, []string{"missing key", "?recurse or ?keys"}}, "", nil},
		{"raw and recurse", "/v1/kv/app?raw&recurse", want{400, []string{"parameters raw and recurse cannot be combined"}}, "", nil},
		{"recurse and keys", "/v1/kv/app?recurse&keys", want{400, []string{"recurse and keys"}}, "", nil},
		{"bad bool", "/v1/kv/app?recurse=maybe", want{400, []string{`invalid recurse parameter "maybe"`}}, "", nil},
		{"bad index", "/v1/kv/app/a?index=x", want{400, []string{`invalid index parameter "x"`}}, "", nil},
		{"negative index", "/v1/kv/app/a?index=-1", want{400, []string{"invalid index parameter"}}, "", nil},
		{"bad wait", "/v1/kv/app/a?index=1&wait=soon", want{400, []string{`invalid wait parameter "soon"`}}, "", nil},
		{"negative wait", "/v1/kv/app/a?index=1&wait=-1s", want{400, []string{"invalid wait parameter"}}, "", nil},
		{"bad wait without index", "/v1/kv/app/a?wait=x", want{400, []string{"invalid wait parameter"}}, "", nil},
		{"index passed answers at once", "/v1/kv/app/?recurse&index=1&wait=1h", want{200, []string{"app/b"}}, "2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newHandler(t, nil)
			seedKV(t, b)
			w := serve(h, call{method: "GET", target: tt.target})
			check(t, w, tt.want)
			if got := w.Header().Get(client.IndexHeader); got != tt.index {
				t.Errorf("%s = %q, want %q", client.IndexHeader, got, tt.index)
			}
			if tt.check != nil {
				tt.check(t, w)
			}
		})
	}
}

func TestKVGetFailures(t *testing.T) {
	h, b := newHandler(t, nil)
	b.Fail("Get", fmt.Errorf("%w: configsync: store is closed", httpapi.ErrUnavailable))
	check(t, serve(h, call{method: "GET", target: "/v1/kv/k"}), want{503, []string{"configsync: store is closed"}})
	b.Fail("Get", nil)
	b.Fail("Wait", fmt.Errorf("%w: configsync: store is closed", httpapi.ErrUnavailable))
	check(t, serve(h, call{method: "GET", target: "/v1/kv/k?index=5"}), want{503, []string{"store is closed"}})
}

func TestKVPut(t *testing.T) {
	tests := []struct {
		name   string
		target string
		body   string
		opt    func(*httpapi.Options)
		setup  func(*httpapitest.Backend)
		want   want
		key    string // key that must hold body afterwards; "" when nothing may change
	}{
		{"value", "/v1/kv/app/x", "hello", nil, nil, want{200, []string{`"key":"app/x"`, `"index":1`}}, "app/x"},
		{"empty value", "/v1/kv/app/x", "", nil, nil, want{200, nil}, "app/x"},
		{"flags", "/v1/kv/app/x?flags=42", "v", nil, nil, want{200, []string{`"flags":42`}}, "app/x"},
		{"binary", "/v1/kv/bin", "\x00\xff\n", nil, nil, want{200, nil}, "bin"},
		{"escaped key", "/v1/kv/a%2F%2Fb", "v", nil, nil, want{200, []string{`"key":"a//b"`}}, "a//b"},
		{"bad flags", "/v1/kv/app/x?flags=-1", "v", nil, nil, want{400, []string{`invalid flags parameter "-1"`}}, ""},
		{"no key", "/v1/kv/", "v", nil, nil, want{400, []string{"missing key"}}, ""},
		{"reserved", "/v1/kv/_murmur/svc/node1", "v", nil, nil, want{403, []string{"_murmur/", "read-only"}}, ""},
		{"body over the cap", "/v1/kv/big", strings.Repeat("x", 101), func(o *httpapi.Options) { o.MaxBodyBytes = 100 }, nil,
			want{413, []string{"value exceeds the limit of 100 bytes (kv.max_value_bytes)"}}, ""},
		{"body at the cap", "/v1/kv/big", strings.Repeat("x", 100), func(o *httpapi.Options) { o.MaxBodyBytes = 100 }, nil,
			want{200, nil}, "big"},
		{"value over the store limit", "/v1/kv/big", strings.Repeat("x", 11), nil, func(b *httpapitest.Backend) { b.MaxValueBytes = 10 },
			want{413, []string{"httpapitest: value is 11 bytes, limit kv.max_value_bytes is 10"}}, ""},
		{"invalid key", "/v1/kv/a%01b", "v", nil, nil, want{400, []string{"invalid key"}}, ""},
		{"store failure", "/v1/kv/k", "v", nil, func(b *httpapitest.Backend) { b.Fail("Put", errors.New("configsync: fsync: disk full")) },
			want{500, []string{"configsync: fsync: disk full"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newHandler(t, tt.opt)
			if tt.setup != nil {
				tt.setup(b)
			}
			check(t, serve(h, call{method: "PUT", target: tt.target, body: tt.body}), tt.want)
			if tt.key == "" {
				if keys := b.Keys(""); len(keys) != 0 {
					t.Errorf("store changed: %v", keys)
				}
				return
			}
			p, err := b.Get(tt.key)
			if err != nil || string(p.Value) != tt.body {
				t.Errorf("stored %q, %v; want %q", p.Value, err, tt.body)
			}
		})
	}
}

func TestKVPutChunkedOverCap(t *testing.T) {
	// Without Content-Length the cap is enforced while reading.
	h, b := newHandler(t, func(o *httpapi.Options) { o.MaxBodyBytes = 10 })
	r := httptest.NewRequest("PUT", "/v1/kv/k", strings.NewReader(strings.Repeat("y", 50)))
	r.ContentLength = -1
	r.Header.Set(client.TokenHeader, testToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	check(t, w, want{413, []string{"limit of 10 bytes"}})
	if len(b.Keys("")) != 0 {
		t.Error("store changed")
	}
}

func TestKVDelete(t *testing.T) {
	tests := []struct {
		name   string
		target string
		setup  func(*httpapitest.Backend)
		want   want
		left   string // keys left afterwards
	}{
		{"one", "/v1/kv/app/a", nil, want{200, []string{`{"deleted":1}`}}, "_murmur/svc/node1,app/b,other"},
		{"absent", "/v1/kv/app/zz", nil, want{200, []string{`{"deleted":0}`}}, "_murmur/svc/node1,app/a,app/b,other"},
		{"prefix without recurse", "/v1/kv/app/", nil, want{200, []string{`{"deleted":0}`}}, "_murmur/svc/node1,app/a,app/b,other"},
		{"recurse", "/v1/kv/app/?recurse", nil, want{200, []string{`{"deleted":2}`}}, "_murmur/svc/node1,other"},
		{"reserved key", "/v1/kv/_murmur/svc/node1", nil, want{403, []string{"read-only"}}, "_murmur/svc/node1,app/a,app/b,other"},
		{"reserved prefix", "/v1/kv/_murmur/?recurse", nil, want{403, []string{"read-only"}}, "_murmur/svc/node1,app/a,app/b,other"},
		{"everything", "/v1/kv/?recurse", nil, want{403, []string{`recursive delete of prefix ""`, "_murmur/"}}, "_murmur/svc/node1,app/a,app/b,other"},
		{"prefix of the reserved prefix", "/v1/kv/_mur?recurse", nil, want{403, []string{"would include"}}, "_murmur/svc/node1,app/a,app/b,other"},
		{"no key", "/v1/kv/", nil, want{400, []string{"missing key", "?recurse"}}, "_murmur/svc/node1,app/a,app/b,other"},
		{"bad recurse", "/v1/kv/app?recurse=2", nil, want{400, []string{"invalid recurse parameter"}}, "_murmur/svc/node1,app/a,app/b,other"},
		{"store failure", "/v1/kv/app/a", func(b *httpapitest.Backend) { b.Fail("Delete", errors.New("configsync: closed")) },
			want{500, []string{"configsync: closed"}}, "_murmur/svc/node1,app/a,app/b,other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newHandler(t, nil)
			seedKV(t, b)
			if tt.setup != nil {
				tt.setup(b)
			}
			check(t, serve(h, call{method: "DELETE", target: tt.target}), tt.want)
			if got := strings.Join(b.Keys(""), ","); got != tt.left {
				t.Errorf("keys left %q, want %q", got, tt.left)
			}
		})
	}
}

func TestKVBlockingWakesOnChange(t *testing.T) {
	h, b := newHandler(t, nil)
	seedKV(t, b)
	srv := httptest.NewServer(h)
	defer srv.Close()
	idx := b.Index("app/")
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/v1/kv/app/?recurse&wait=1m&index=" + strconv.FormatUint(idx, 10))
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	waitFor(t, "the blocking query", func() bool { return len(b.Waits()) == 1 })
	// A write elsewhere does not wake it (the fake checks the prefix).
	if _, err := b.Put(context.Background(), "other", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(context.Background(), "app/c", []byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	resp := <-done
	if resp == nil {
		t.FailNow()
	}
	defer resp.Body.Close()
	got, _ := strconv.ParseUint(resp.Header.Get(client.IndexHeader), 10, 64)
	if resp.StatusCode != 200 || got <= idx {
		t.Fatalf("status %d index %d, want 200 and > %d", resp.StatusCode, got, idx)
	}
	w := b.Waits()[0]
	if w.Prefix != "app/" || w.Index != idx || w.Deadline <= 0 || w.Deadline > time.Minute {
		t.Errorf("Wait call %+v, want prefix app/, index %d, deadline within 1m", w, idx)
	}
}

func TestKVBlockingTimesOut(t *testing.T) {
	tests := []struct {
		name    string
		maxWait time.Duration
		query   string
		limit   time.Duration // the deadline Wait must see is at most this
	}{
		{"explicit wait", time.Hour, "&wait=20ms", 20 * time.Millisecond},
		{"clamped to MaxWait", 20 * time.Millisecond, "&wait=1h", 20 * time.Millisecond},
		{"default clamped to MaxWait", 20 * time.Millisecond, "", 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newHandler(t, func(o *httpapi.Options) { o.MaxWait = tt.maxWait })
			seedKV(t, b)
			start := time.Now()
			w := serve(h, call{method: "GET", target: "/v1/kv/app/a?index=1" + tt.query})
			end := time.Now()
			check(t, w, want{200, []string{`"key":"app/a"`}})
			if got := w.Header().Get(client.IndexHeader); got != "1" {
				t.Errorf("index %s, want 1 (unchanged)", got)
			}
			// The handler set the deadline between start and end, so it
			// lies after start and at most limit after end. (How long it
			// had left when Wait ran says nothing on a loaded machine: a
			// 20 ms deadline may be gone by then.)
			ws := b.Waits()
			if len(ws) != 1 || !ws[0].DeadlineAt.After(start) || ws[0].DeadlineAt.Sub(end) > tt.limit {
				t.Errorf("Wait calls %+v (request from %v to %v), want one with a deadline within %v", ws, start, end, tt.limit)
			}
		})
	}
	// Without ?wait the default is DefaultWait.
	h, b := newHandler(t, nil)
	seedKV(t, b)
	r := httptest.NewRequest("GET", "/v1/kv/app/a?index=1", nil)
	ctx, cancel := context.WithCancel(r.Context())
	r = r.WithContext(ctx)
	go func() {
		defer cancel() // the client goes away
		if !eventually(func() bool { return len(b.Waits()) == 1 }) {
			t.Error("timed out waiting for the blocking query")
		}
	}()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if ws := b.Waits(); ws[0].Deadline <= 0 || ws[0].Deadline > httpapi.DefaultWait {
		t.Errorf("default wait deadline %v, want within %v", ws[0].Deadline, httpapi.DefaultWait)
	}
}
