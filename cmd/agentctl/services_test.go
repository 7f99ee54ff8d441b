package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

func seedCatalog(a *agent) {
	a.b.AddInstances(
		client.ServiceInstance{ID: "web", Name: "web", Node: "n3", Address: "10.0.0.3", Port: 80, Health: client.HealthPassing, NodeStatus: "alive", Tags: []string{"v2", "blue"}},
		client.ServiceInstance{ID: "web-alt", Name: "web", Node: "n2", Address: "10.0.0.2", Port: 8080, Health: client.HealthCritical, NodeStatus: "alive"},
		client.ServiceInstance{ID: "web", Name: "web", Node: "n4", Address: "fd00::4", Port: 80, Health: client.HealthPassing, NodeStatus: "failed"},
		client.ServiceInstance{ID: "db", Name: "db", Node: "n2", Address: "10.0.0.2", Port: 5432, Health: client.HealthPassing, NodeStatus: "alive"},
	)
}

func TestServices(t *testing.T) {
	a := newAgent(t)
	if out := a.run(t, "services").ok(t); out != "NAME  INSTANCES  PASSING  TAGS\n" {
		t.Errorf("empty catalog %q", out)
	}
	seedCatalog(a)
	want := "NAME  INSTANCES  PASSING  TAGS\n" +
		"db    1          1\n" +
		"web   3          1        blue,v2\n"
	if out := a.run(t, "services").ok(t); out != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}
	var got []client.ServiceSummary
	out := a.run(t, "services", "-json").ok(t)
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 2 || got[1].Instances != 3 {
		t.Errorf("json %q %v", out, err)
	}
}

func TestService(t *testing.T) {
	a := newAgent(t)
	seedCatalog(a)
	want := "NODE  ID       ADDRESS        HEALTH                 TAGS\n" +
		"n2    web-alt  10.0.0.2:8080  critical\n" +
		"n3    web      10.0.0.3:80    passing                v2,blue\n" +
		"n4    web      [fd00::4]:80   passing (node failed)\n"
	if out := a.run(t, "service", "web").ok(t); out != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}
	want = "NODE  ID   ADDRESS      HEALTH   TAGS\nn3    web  10.0.0.3:80  passing  v2,blue\n"
	if out := a.run(t, "service", "web", "-passing").ok(t); out != want {
		t.Errorf("passing table:\n%s\nwant:\n%s", out, want)
	}
	var insts []client.ServiceInstance
	out := a.run(t, "service", "--json", "--passing", "web").ok(t)
	if err := json.Unmarshal([]byte(out), &insts); err != nil || len(insts) != 1 || insts[0].Node != "n3" {
		t.Errorf("json %q %v", out, err)
	}
	a.run(t, "service", "nope").fails(t, "agentctl: service nope not found\n")
}

func TestServiceRegister(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "web.json")
	if err := os.WriteFile(file, []byte(`{"id":"web2","name":"web","port":81,"check":{"tcp":"127.0.0.1:81","interval":"5s"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name":"web","prot":81}`), 0o600); err != nil {
		t.Fatal(err)
	}
	sec := func(n int) client.Duration { return client.Duration(time.Duration(n) * time.Second) }
	tests := []struct {
		name  string
		args  []string
		stdin string
		id    string
		want  client.ServiceDefinition
	}{
		{"minimal", []string{"-name", "web"}, "", "web", client.ServiceDefinition{Name: "web"}},
		{"all flags", []string{"-name", "web", "-id", "web1", "-port", "8080", "-address", "10.0.0.1", "-tag", "a", "-tag", "b",
			"-meta", "team=x", "-meta", "v=1=2", "-check-http", "http://127.0.0.1:8080/health", "-interval", "10s", "-timeout", "2s"}, "", "web1",
			client.ServiceDefinition{ID: "web1", Name: "web", Port: 8080, Address: "10.0.0.1", Tags: []string{"a", "b"},
				Meta:  map[string]string{"team": "x", "v": "1=2"},
				Check: &client.CheckDefinition{HTTP: "http://127.0.0.1:8080/health", Interval: sec(10), Timeout: sec(2)}}},
		{"tcp check", []string{"--name", "db", "--check-tcp", "127.0.0.1:5432"}, "", "db",
			client.ServiceDefinition{Name: "db", Check: &client.CheckDefinition{TCP: "127.0.0.1:5432"}}},
		{"ttl check", []string{"-name", "job", "-check-ttl", "30s"}, "", "job",
			client.ServiceDefinition{Name: "job", Check: &client.CheckDefinition{TTL: sec(30)}}},
		{"file", []string{"-file", file}, "", "web2",
			client.ServiceDefinition{ID: "web2", Name: "web", Port: 81, Check: &client.CheckDefinition{TCP: "127.0.0.1:81", Interval: sec(5)}}},
		{"stdin", []string{"-file", "-"}, `{"name":"api","tags":["x"]}`, "api", client.ServiceDefinition{Name: "api", Tags: []string{"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAgent(t)
			out := a.runWith(t, inv{stdin: tt.stdin}, append([]string{"service", "register"}, tt.args...)...).ok(t)
			if out != "registered service "+tt.id+"\n" {
				t.Errorf("stdout %q", out)
			}
			got, ok := a.b.Registered(tt.id)
			if !ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("registered %+v (check %+v), want %+v (check %+v)", got, got.Check, tt.want, tt.want.Check)
			}
		})
	}
	failures := []struct {
		name string
		args []string
		want string
	}{
		{"no name", []string{"-port", "80"}, "-name or -file is required"},
		{"two checks", []string{"-name", "w", "-check-tcp", "a:1", "-check-ttl", "5s"}, "only one of -check-tcp, -check-http and -check-ttl may be set, got -check-tcp and -check-ttl"},
		{"interval without check", []string{"-name", "w", "-interval", "5s"}, "-interval and -timeout need -check-tcp or -check-http"},
		{"interval with ttl", []string{"-name", "w", "-check-ttl", "5s", "-interval", "5s"}, "need -check-tcp or -check-http"},
		{"negative ttl", []string{"-name", "w", "-check-ttl", "-5s"}, "-check-ttl -5s is negative"},
		{"negative interval", []string{"-name", "w", "-check-tcp", "a:1", "-interval", "-1s"}, "-interval -1s is negative"},
		{"negative timeout", []string{"-name", "w", "-check-tcp", "a:1", "-timeout", "-1s"}, "-timeout -1s is negative"},
		{"port range", []string{"-name", "w", "-port", "70000"}, "-port 70000 is out of range 0-65535"},
		{"bad meta", []string{"-name", "w", "-meta", "novalue"}, `-meta "novalue": want KEY=VALUE`},
		{"bad duration", []string{"-name", "w", "-check-ttl", "soon"}, `invalid argument "soon" for "--check-ttl"`},
		{"file and flags", []string{"-file", file, "-name", "w", "-port", "1"}, "-file cannot be combined with -name, -port"},
		{"missing file", []string{"-file", filepath.Join(dir, "none.json")}, "-file: open " + filepath.Join(dir, "none.json")},
		{"misspelt field in file", []string{"-file", bad}, `json: unknown field "prot"`},
		{"agent refuses", []string{"-file", "-"}, "name is required"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			a := newAgent(t)
			a.runWith(t, inv{stdin: `{"port":1}`}, append([]string{"service", "register"}, tt.args...)...).fails(t, tt.want)
			if _, ok := a.b.Registered("w"); ok {
				t.Error("registered anyway")
			}
		})
	}
}

func TestServiceDeregister(t *testing.T) {
	a := newAgent(t)
	a.run(t, "service", "register", "-name", "web").ok(t)
	if out := a.run(t, "service", "deregister", "web").ok(t); out != "deregistered service web\n" {
		t.Errorf("stdout %q", out)
	}
	a.run(t, "service", "deregister", "web").fails(t, `no service with id "web"`)
}

func TestCheck(t *testing.T) {
	a := newAgent(t)
	a.run(t, "service", "register", "-name", "job", "-check-ttl", "30s").ok(t)
	a.run(t, "service", "register", "-name", "web").ok(t)
	tests := []struct {
		args   []string
		out    string
		health string
		note   string
	}{
		{[]string{"pass", "job"}, "check of job is passing\n", client.HealthPassing, ""},
		{[]string{"warn", "job", "-note", "disk 91% full"}, "check of job is warning\n", client.HealthWarning, "disk 91% full"},
		{[]string{"fail", "--note=down", "job"}, "check of job is critical\n", client.HealthCritical, "down"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if out := a.run(t, append([]string{"check"}, tt.args...)...).ok(t); out != tt.out {
				t.Errorf("stdout %q", out)
			}
			insts, err := a.b.Service("job", false)
			if err != nil || insts[0].Health != tt.health || insts[0].Output != tt.note {
				t.Errorf("job %+v %v", insts, err)
			}
		})
	}
	a.run(t, "check", "pass", "nope").fails(t, `no service with id "nope"`)
	a.run(t, "check", "pass", "web").fails(t, `service "web" has no TTL check`)
}
