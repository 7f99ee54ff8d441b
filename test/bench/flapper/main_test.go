package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

// TestFlapAlternates: the check goes passing, critical, passing, ... and
// only the changes the agent accepted are counted; a refused change is
// sent again at the next tick, so the sequence the agent accepts still
// alternates.
func TestFlapAlternates(t *testing.T) {
	var mu sync.Mutex
	var accepted []string
	calls := 0
	enough := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, "/v1/agent/check/") {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if calls == 3 { // the agent refuses one change
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		accepted = append(accepted, strings.TrimPrefix(r.URL.Path, "/v1/agent/check/"))
		if len(accepted) == 5 {
			close(enough)
		}
	}))
	defer srv.Close()
	c, err := client.New(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan uint64)
	go func() { done <- flap(ctx, c, "web-1", time.Millisecond) }()
	select {
	case <-enough:
	case <-time.After(time.Minute):
		t.Fatal("the flapper did not make 5 accepted changes in a minute")
	}
	cancel()
	n := <-done
	mu.Lock()
	defer mu.Unlock()
	if n != uint64(len(accepted)) {
		t.Errorf("flap counted %d changes; the agent accepted %d", n, len(accepted))
	}
	want := []string{"pass/web-1", "fail/web-1", "pass/web-1", "fail/web-1", "pass/web-1"}
	if !slices.Equal(accepted[:5], want) {
		t.Errorf("accepted changes %v, want %v first", accepted, want)
	}
}
