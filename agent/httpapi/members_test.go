package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
)

func threeMembers(b *httpapitest.Backend) {
	b.SetMembers(
		client.Member{Name: "c", Address: "10.0.0.3", Port: 7946, Status: "failed"},
		client.Member{Name: "a", Address: "10.0.0.1", Port: 7946, Status: "alive", Meta: map[string]string{"dc": "x"}},
		client.Member{Name: "b", Address: "10.0.0.2", Port: 7946, Status: "alive"},
	)
}

func TestMembers(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  want
		names string
	}{
		{"all sorted", "", want{200, nil}, "a,b,c"},
		{"alive", "?status=alive", want{200, nil}, "a,b"},
		{"failed", "?status=failed", want{200, nil}, "c"},
		{"none left", "?status=left", want{200, []string{"[]"}}, ""},
		{"empty status is all", "?status=", want{200, nil}, "a,b,c"},
		{"unknown status", "?status=dead", want{400, []string{`unknown status "dead"`, "status parameter", "alive, suspect, failed, left"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newHandler(t, nil)
			threeMembers(b)
			w := serve(h, call{method: "GET", target: "/v1/members" + tt.query})
			check(t, w, tt.want)
			if w.Code != 200 {
				return
			}
			var names []string
			for _, m := range decode[[]client.Member](t, w) {
				names = append(names, m.Name)
			}
			if got := strings.Join(names, ","); got != tt.names {
				t.Errorf("members %q, want %q", got, tt.names)
			}
		})
	}
}

func TestSelf(t *testing.T) {
	h, b := newHandler(t, nil)
	b.SetSelf(client.Self{Node: "n9", Version: "1.2.3", Stats: map[string]int64{"members": 3}})
	w := serve(h, call{method: "GET", target: "/v1/agent/self"})
	check(t, w, want{200, nil})
	if s := decode[client.Self](t, w); s.Node != "n9" || s.Version != "1.2.3" || s.Stats["members"] != 3 {
		t.Errorf("self = %+v", s)
	}
}

func TestJoin(t *testing.T) {
	refused := errors.New(`agent: join: 10.0.0.9:7946: connection refused; 10.0.0.8:7946: i/o timeout`)
	tests := []struct {
		name   string
		body   string
		setup  func(*httpapitest.Backend)
		want   want
		joined int
	}{
		{"two", `{"addresses":["10.0.0.1:7946","10.0.0.2:7946"]}`, nil, want{200, []string{`"joined":2`}}, 2},
		{"some answered", `{"addresses":["a:1","b:1"]}`, func(b *httpapitest.Backend) {
			b.SetJoin(func(context.Context, []string) (int, error) { return 1, nil })
		}, want{200, []string{`"joined":1`}}, 2},
		{"some answered, which not is listed", `{"addresses":["a:1","b:1","c:1"]}`, func(b *httpapitest.Backend) {
			b.SetJoin(func(context.Context, []string) (int, error) {
				return 1, fmt.Errorf("agent: join: %w", errors.Join(errors.New("failed to join b:1: refused"), errors.New("failed to resolve c:1: no such host")))
			})
		}, want{200, []string{`"joined":1`, `"failed":["failed to join b:1: refused","failed to resolve c:1: no such host"]`}}, 3},
		{"some answered, error of one line", `{"addresses":["a:1","b:1"]}`, func(b *httpapitest.Backend) {
			b.SetJoin(func(context.Context, []string) (int, error) { return 1, errors.New("b:1: refused") })
		}, want{200, []string{`"joined":1`, `"failed":["b:1: refused"]`}}, 2},
		{"none answered", `{"addresses":["10.0.0.9:7946","10.0.0.8:7946"]}`, func(b *httpapitest.Backend) {
			b.Fail("Join", refused)
		}, want{500, []string{"10.0.0.9:7946: connection refused", "10.0.0.8:7946: i/o timeout"}}, 2},
		{"shutting down", `{"addresses":["a:1"]}`, func(b *httpapitest.Backend) {
			b.Fail("Join", fmt.Errorf("%w: agent: shutting down", httpapi.ErrUnavailable))
		}, want{503, []string{"agent: shutting down"}}, 1},
		{"no addresses", `{"addresses":[]}`, nil, want{400, []string{"addresses is empty"}}, 0},
		{"no field", `{}`, nil, want{400, []string{"addresses is empty"}}, 0},
		{"blank address", `{"addresses":["a:1"," "]}`, nil, want{400, []string{"addresses[1] is empty"}}, 0},
		{"empty body", ``, nil, want{400, []string{"request body is empty", "JoinRequest"}}, 0},
		{"not json", `a:1`, nil, want{400, []string{"invalid JSON JoinRequest"}}, 0},
		{"misspelt field", `{"adresses":["a:1"]}`, nil, want{400, []string{`unknown field "adresses"`}}, 0},
		{"wrong type", `{"addresses":"a:1"}`, nil, want{400, []string{"invalid JSON JoinRequest", "addresses"}}, 0},
		{"trailing data", `{"addresses":["a:1"]} {}`, nil, want{400, []string{"trailing data"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newHandler(t, nil)
			if tt.setup != nil {
				tt.setup(b)
			}
			check(t, serve(h, call{method: "PUT", target: "/v1/agent/join", body: tt.body}), tt.want)
			if got := len(b.Joined()); got != tt.joined {
				t.Errorf("backend asked to join %d addresses, want %d", got, tt.joined)
			}
		})
	}
}

func TestJoinBodyTooLarge(t *testing.T) {
	h, b := newHandler(t, func(o *httpapi.Options) { o.MaxBodyBytes = 32 })
	body := `{"addresses":["` + strings.Repeat("a", 40) + `:1"]}`
	check(t, serve(h, call{method: "PUT", target: "/v1/agent/join", body: body}),
		want{413, []string{"request body exceeds the limit of 32 bytes"}})
	if len(b.Joined()) != 0 {
		t.Error("join reached the backend")
	}
}

func TestLeave(t *testing.T) {
	h, b := newHandler(t, nil)
	b.Fail("Leave", errors.New("agent: leave: broadcast timed out"))
	check(t, serve(h, call{method: "PUT", target: "/v1/agent/leave"}), want{500, []string{"broadcast timed out"}})
	if b.Left() {
		t.Fatal("left despite the error")
	}
	b.Fail("Leave", nil)
	check(t, serve(h, call{method: "PUT", target: "/v1/agent/leave"}), want{200, []string{"{}"}})
	if !b.Left() {
		t.Fatal("did not leave")
	}
}

func TestCoordinates(t *testing.T) {
	h, b := newHandler(t, nil)
	w := serve(h, call{method: "GET", target: "/v1/coordinates"})
	check(t, w, want{200, []string{"[]"}})
	b.SetCoordinates(client.Coordinate{Node: "b", Vec: []float64{1}}, client.Coordinate{Node: "a", Vec: []float64{2}})
	w = serve(h, call{method: "GET", target: "/v1/coordinates"})
	check(t, w, want{200, nil})
	cs := decode[[]client.Coordinate](t, w)
	if len(cs) != 2 || cs[0].Node != "a" || cs[1].Node != "b" {
		t.Errorf("coordinates %+v, want a then b", cs)
	}
}

func TestRTT(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  want
		rtt   client.RTT
	}{
		{"from self", "?to=b", want{200, nil}, client.RTT{From: "node1", To: "b", Seconds: 0.0015}},
		{"between two", "?from=b&to=c", want{200, nil}, client.RTT{From: "b", To: "c", Seconds: 0.002}},
		{"same node", "?from=b&to=b", want{200, nil}, client.RTT{From: "b", To: "b"}},
		{"missing to", "?from=b", want{400, []string{"missing to parameter"}}, client.RTT{}},
		{"no coordinate", "?to=zz", want{404, []string{"no coordinate for node1 or zz"}}, client.RTT{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newHandler(t, nil)
			b.SetRTT("node1", "b", 1500*time.Microsecond)
			b.SetRTT("b", "c", 2*time.Millisecond)
			w := serve(h, call{method: "GET", target: "/v1/rtt" + tt.query})
			check(t, w, tt.want)
			if w.Code == 200 {
				if got := decode[client.RTT](t, w); got != tt.rtt {
					t.Errorf("rtt %+v, want %+v", got, tt.rtt)
				}
			}
		})
	}
}
