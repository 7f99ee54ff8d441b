package httpapi_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
)

func TestRegister(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		setup func(*httpapitest.Backend)
		want  want
		id    string // id registered afterwards; "" when nothing may change
	}{
		{"minimal", `{"name":"web"}`, nil, want{200, []string{"{}"}}, "web"},
		{"full", `{"id":"web1","name":"web","address":"10.0.0.1","port":80,"tags":["v1"],"meta":{"a":"b"},
			"check":{"http":"http://127.0.0.1/health","interval":"10s","timeout":"1s"}}`, nil, want{200, nil}, "web1"},
		{"ttl check", `{"name":"job","check":{"ttl":"30s"}}`, nil, want{200, nil}, "job"},
		{"duration in ns", `{"name":"job","check":{"ttl":30000000000}}`, nil, want{200, nil}, "job"},
		{"no name", `{"port":80}`, nil, want{400, []string{"name is required"}}, ""},
		{"port too big", `{"name":"web","port":70000}`, nil, want{400, []string{"port 70000 is out of range"}}, ""},
		{"negative port", `{"name":"web","port":-1}`, nil, want{400, []string{"port -1"}}, ""},
		{"two check kinds", `{"name":"web","check":{"tcp":"a:1","ttl":"5s"}}`, nil, want{400, []string{"exactly one of check.tcp, check.http and check.ttl, got 2"}}, ""},
		{"empty check", `{"name":"web","check":{}}`, nil, want{400, []string{"got 0"}}, ""},
		{"negative interval", `{"name":"web","check":{"tcp":"a:1","interval":"-1s"}}`, nil, want{400, []string{"check.interval -1s is negative"}}, ""},
		{"negative timeout", `{"name":"web","check":{"tcp":"a:1","timeout":"-1s"}}`, nil, want{400, []string{"check.timeout"}}, ""},
		{"negative successes", `{"name":"web","check":{"tcp":"a:1","success_before_passing":-1}}`, nil, want{400, []string{"check.success_before_passing"}}, ""},
		{"negative failures", `{"name":"web","check":{"tcp":"a:1","failures_before_critical":-2}}`, nil, want{400, []string{"check.failures_before_critical"}}, ""},
		{"bad duration", `{"name":"web","check":{"ttl":"soon"}}`, nil, want{400, []string{"invalid JSON ServiceDefinition", `invalid duration "soon"`}}, ""},
		{"misspelt field", `{"name":"web","prot":80}`, nil, want{400, []string{`unknown field "prot"`}}, ""},
		{"wrong type", `{"name":"web","port":"80"}`, nil, want{400, []string{"ServiceDefinition.port"}}, ""},
		{"empty body", ``, nil, want{400, []string{"request body is empty"}}, ""},
		{"backend refuses", `{"name":"web","address":"nowhere"}`, func(b *httpapitest.Backend) {
			b.Fail("Register", fmt.Errorf("%w: agent: service web: address %q is not an IP address", httpapi.ErrBadRequest, "nowhere"))
		}, want{400, []string{`agent: service web: address "nowhere" is not an IP address`}}, ""},
		{"backend fails", `{"name":"web"}`, func(b *httpapitest.Backend) {
			b.Fail("Register", errors.New("agent: catalog write failed"))
		}, want{500, []string{"agent: catalog write failed"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newHandler(t, nil)
			if tt.setup != nil {
				tt.setup(b)
			}
			check(t, serve(h, call{method: "PUT", target: "/v1/agent/service/register", body: tt.body}), tt.want)
			for _, id := range []string{"web", "web1", "job"} {
				_, ok := b.Registered(id)
				if ok != (id == tt.id) {
					t.Errorf("registered(%s) = %v", id, ok)
				}
			}
		})
	}
}

func TestDeregister(t *testing.T) {
	h, b := newHandler(t, nil)
	if err := b.Register(client.ServiceDefinition{ID: "web1", Name: "web"}); err != nil {
		t.Fatal(err)
	}
	check(t, serve(h, call{method: "PUT", target: "/v1/agent/service/deregister/nope"}), want{404, []string{`no service with id "nope"`}})
	check(t, serve(h, call{method: "PUT", target: "/v1/agent/service/deregister/web1"}), want{200, []string{"{}"}})
	if _, ok := b.Registered("web1"); ok {
		t.Error("still registered")
	}
}

func TestCheckUpdate(t *testing.T) {
	tests := []struct {
		name   string
		target string
		want   want
		health string
		output string
	}{
		{"pass", "/v1/agent/check/pass/job", want{200, nil}, client.HealthPassing, ""},
		{"warn with note", "/v1/agent/check/warn/job?note=slow+disk", want{200, nil}, client.HealthWarning, "slow disk"},
		{"fail", "/v1/agent/check/fail/job?note=down", want{200, nil}, client.HealthCritical, "down"},
		{"unknown id", "/v1/agent/check/pass/nope", want{404, []string{`no service with id "nope"`}}, client.HealthCritical, ""},
		{"not a ttl check", "/v1/agent/check/pass/web", want{400, []string{`service "web" has no TTL check`}}, client.HealthCritical, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newHandler(t, nil)
			if err := b.Register(client.ServiceDefinition{Name: "job", Check: &client.CheckDefinition{TTL: client.Duration(30e9)}}); err != nil {
				t.Fatal(err)
			}
			if err := b.Register(client.ServiceDefinition{Name: "web"}); err != nil {
				t.Fatal(err)
			}
			check(t, serve(h, call{method: "PUT", target: tt.target}), tt.want)
			insts, _ := b.Service("job", false)
			if insts[0].Health != tt.health || insts[0].Output != tt.output {
				t.Errorf("job is %s %q, want %s %q", insts[0].Health, insts[0].Output, tt.health, tt.output)
			}
		})
	}
}

func catalog(b *httpapitest.Backend) {
	b.AddInstances(
		client.ServiceInstance{ID: "web", Name: "web", Node: "n3", Address: "10.0.0.3", Port: 80, Health: client.HealthPassing, NodeStatus: "alive", Tags: []string{"v2"}},
		client.ServiceInstance{ID: "web", Name: "web", Node: "n2", Address: "10.0.0.2", Port: 80, Health: client.HealthCritical, NodeStatus: "alive"},
		client.ServiceInstance{ID: "web", Name: "web", Node: "n4", Address: "10.0.0.4", Port: 80, Health: client.HealthPassing, NodeStatus: "failed"},
		client.ServiceInstance{ID: "db", Name: "db", Node: "n2", Address: "10.0.0.2", Port: 5432, Health: client.HealthPassing, NodeStatus: "alive"},
	)
}

func TestServices(t *testing.T) {
	h, b := newHandler(t, nil)
	check(t, serve(h, call{method: "GET", target: "/v1/services"}), want{200, []string{"[]"}})
	catalog(b)
	w := serve(h, call{method: "GET", target: "/v1/services"})
	check(t, w, want{200, nil})
	got := decode[[]client.ServiceSummary](t, w)
	if len(got) != 2 || got[0].Name != "db" || got[1].Name != "web" || got[1].Instances != 3 || got[1].Passing != 1 {
		t.Errorf("services %+v", got)
	}
}

func TestService(t *testing.T) {
	tests := []struct {
		name   string
		target string
		want   want
		nodes  string
	}{
		{"all sorted by node", "/v1/services/web", want{200, nil}, "n2,n3,n4"},
		{"passing", "/v1/services/web?passing", want{200, nil}, "n3"},
		{"passing=false", "/v1/services/web?passing=false", want{200, nil}, "n2,n3,n4"},
		{"unknown", "/v1/services/nope", want{404, []string{`unknown service "nope"`}}, ""},
		{"bad passing", "/v1/services/web?passing=yes", want{400, []string{`invalid passing parameter "yes"`}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b := newHandler(t, nil)
			catalog(b)
			w := serve(h, call{method: "GET", target: tt.target})
			check(t, w, tt.want)
			if w.Code != 200 {
				return
			}
			var nodes []string
			for _, i := range decode[[]client.ServiceInstance](t, w) {
				nodes = append(nodes, i.Node)
			}
			if got := strings.Join(nodes, ","); got != tt.nodes {
				t.Errorf("nodes %v, want %s", nodes, tt.nodes)
			}
		})
	}
	h, b := newHandler(t, nil)
	b.Fail("Service", fmt.Errorf("%w: agent: catalog not ready", httpapi.ErrUnavailable))
	check(t, serve(h, call{method: "GET", target: "/v1/services/web"}), want{503, []string{"catalog not ready"}})
}
