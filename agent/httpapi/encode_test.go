package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
)

// yearTenThousand returns a key whose time JSON cannot encode (a version
// from year 10000 answered 200 with an empty body before).
type yearTenThousand struct{ *httpapitest.Backend }

func (y yearTenThousand) Get(key string) (client.KVPair, error) {
	return client.KVPair{Key: key, Value: []byte("v"), Updated: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

func TestUnencodableAnswerIs500(t *testing.T) {
	h, _ := newHandler(t, func(o *httpapi.Options) { o.KV = yearTenThousand{httpapitest.New()} })
	rec := serve(h, call{method: http.MethodGet, target: "/v1/kv/k"})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, body %q; want 500", rec.Code, rec.Body.String())
	}
	if body := rec.Body.String(); !strings.Contains(body, "encode response") || !strings.Contains(body, "year") {
		t.Fatalf("body %q does not say why", body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
}
