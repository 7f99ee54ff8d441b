package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/murmurhq/murmur/acl"
	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
)

// FuzzHandler sends arbitrary requests (method, path with query, body,
// token, Host) to the API over the fake backend with ACLs: it must never
// panic (a recovered panic is a 500 and fails here), every error must be
// the JSON error shape, and a request refused for its Host or token must
// change nothing.
//
//	go test -run '^$' -fuzz FuzzHandler -fuzztime 30s ./agent/httpapi/
func FuzzHandler(f *testing.F) {
	seeds := []struct{ method, target, body, token, host string }{
		{"GET", "/v1/kv/app/x", "", "", "127.0.0.1"},
		{"PUT", "/v1/kv/app/x?flags=3", "value", "app", "localhost:7947"},
		{"GET", "/v1/kv/app/?recurse&index=3&wait=1ms", "", "root", "[::1]:7947"},
		{"GET", "/v1/kv/?keys", "", "app", "127.0.0.1"},
		{"DELETE", "/v1/kv/app/?recurse", "", "root", "127.0.0.1"},
		{"PUT", "/v1/agent/service/register", `{"name":"web","check":{"ttl":"10s"}}`, "root", "127.0.0.1"},
		{"PUT", "/v1/agent/check/pass/web?note=ok", "", "root", "127.0.0.1"},
		{"PUT", "/v1/agent/join", `{"addresses":["10.0.0.1:7946"]}`, "root", "127.0.0.1"},
		{"GET", "/v1/rtt?from=a&to=b", "", "root", "127.0.0.1"},
		{"PUT", "/v1/keyring/install", `{"key":"MTIzNDU2Nzg5MDEyMzQ1Ng=="}`, "root", "127.0.0.1"},
		{"GET", "/v1/members?status=alive&pretty", "", "", "evil.example"},
		{"POST", "/v1/kv/%2E%2E/x", "\x00\xff", "nope", "127.0.0.1"},
	}
	methods := []string{"GET", "PUT", "DELETE", "POST", "HEAD", "PATCH", "OPTIONS"}
	for _, s := range seeds {
		f.Add(uint8(slices.Index(methods, s.method)), s.target, []byte(s.body), s.token, s.host)
	}
	authz, err := acl.New(acl.Config{Default: "read", Tokens: []acl.TokenConfig{{Name: "app", Secret: "app",
		Rules: []acl.RuleConfig{{Prefix: "app/", Access: "write"}, {Kind: "service", Prefix: "web", Access: "write"}}}}}, "root")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, m uint8, target string, body []byte, token, host string) {
		method := methods[int(m)%len(methods)]
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		// A request line cannot carry a space or a control character in
		// its target (url keeps a raw query as given): net/http's server
		// answers 400 before any handler sees one, and httptest.NewRequest
		// panics on it.
		if strings.IndexFunc(u.RequestURI(), func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return
		}
		b := httpapitest.New()
		b.SetJoin(func(context.Context, []string) (int, error) { return 1, nil })
		h := httpapi.New(httpapi.Options{Membership: b, KV: b, Services: b, ACL: authz,
			Keyring: httpapitest.NewKeyring(1, "MTIzNDU2Nzg5MDEyMzQ1Ng=="), MaxWait: 1})
		r := httptest.NewRequest(method, "http://x"+u.RequestURI(), strings.NewReader(string(body)))
		r.Host = host
		if token != "" && !strings.ContainsAny(token, "\r\n\x00") {
			r.Header.Set(client.TokenHeader, token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s: 500 %s", method, target, w.Body)
		}
		if w.Code >= 400 && w.Code != 405 && w.Header().Get("Content-Type") == "application/json" {
			var e client.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%s %s: %d with body %q", method, target, w.Code, w.Body)
			}
		}
		if (w.Code == 401 || w.Code == 403) && len(b.Keys("")) != 0 {
			t.Fatalf("%s %s refused with %d but wrote %v", method, target, w.Code, b.Keys(""))
		}
	})
}
