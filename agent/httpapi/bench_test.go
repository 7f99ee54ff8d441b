package httpapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
)

// The handler's own cost (routing, token check, JSON) over the in-memory
// fake; the fake's map scans are part of the numbers.

func benchHandler(b *testing.B) (*httpapitest.Backend, func(method, target, body string) int) {
	be := httpapitest.New()
	h := httpapi.New(httpapi.Options{Membership: be, KV: be, Services: be, Token: testToken, Hosts: exampleHost})
	return be, func(method, target, body string) int {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set(client.TokenHeader, testToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
}

func BenchmarkKVGet(b *testing.B) {
	be, do := benchHandler(b)
	if _, err := be.Put(context.Background(), "app/config", []byte(strings.Repeat("x", 1024)), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if code := do("GET", "/v1/kv/app/config", ""); code != 200 {
			b.Fatal(code)
		}
	}
}

func BenchmarkKVPut(b *testing.B) {
	_, do := benchHandler(b)
	body := strings.Repeat("x", 1024)
	b.ReportAllocs()
	for b.Loop() {
		if code := do("PUT", "/v1/kv/app/config", body); code != 200 {
			b.Fatal(code)
		}
	}
}

func BenchmarkMembers1000(b *testing.B) {
	be, do := benchHandler(b)
	ms := make([]client.Member, 1000)
	for i := range ms {
		ms[i] = client.Member{Name: fmt.Sprintf("node-%04d", 999-i), Address: "10.0.0.1", Port: 7946, Status: "alive"}
	}
	be.SetMembers(ms...)
	b.ReportAllocs()
	for b.Loop() {
		if code := do("GET", "/v1/members", ""); code != 200 {
			b.Fatal(code)
		}
	}
}
