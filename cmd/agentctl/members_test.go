package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/murmurhq/murmur/agent/client"
)

func TestMembersTable(t *testing.T) {
	a := newAgent(t)
	a.b.SetMembers(
		client.Member{Name: "web-frontend-2", Address: "10.0.0.12", Port: 7946, Status: "suspect"},
		client.Member{Name: "db1", Address: "10.0.0.2", Port: 7946, Status: "alive", Meta: map[string]string{"role": "db", "dc": "west"}},
		client.Member{Name: "v6", Address: "fd00::1", Port: 7000, Status: "left"},
	)
	want := strings.Join([]string{
		"NAME            ADDRESS         STATUS   META",
		"db1             10.0.0.2:7946   alive    dc=west,role=db",
		"v6              [fd00::1]:7000  left",
		"web-frontend-2  10.0.0.12:7946  suspect",
		"",
	}, "\n")
	if got := a.run(t, "members").ok(t); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	want = "NAME  ADDRESS        STATUS  META\ndb1   10.0.0.2:7946  alive   dc=west,role=db\n"
	if got := a.run(t, "members", "-status", "alive").ok(t); got != want {
		t.Errorf("alive table:\n%s\nwant:\n%s", got, want)
	}
	if got := a.run(t, "members", "-status", "failed").ok(t); got != "NAME  ADDRESS  STATUS  META\n" {
		t.Errorf("empty table %q", got)
	}
}

func TestMembersJSON(t *testing.T) {
	a := newAgent(t)
	a.b.SetMembers(
		client.Member{Name: "b", Address: "10.0.0.2", Port: 7946, Status: "failed"},
		client.Member{Name: "a", Address: "10.0.0.1", Port: 7946, Status: "alive", Meta: map[string]string{"k": "v"}, Protocol: 5},
	)
	for _, spelling := range []string{"-json", "--json"} {
		t.Run(spelling, func(t *testing.T) {
			out := a.run(t, "members", spelling).ok(t)
			var got []map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if len(got) != 2 || got[0]["name"] != "a" || got[1]["name"] != "b" {
				t.Fatalf("members %v", got)
			}
			for _, field := range []string{"name", "address", "port", "status"} {
				if _, ok := got[0][field]; !ok {
					t.Errorf("member has no %q: %v", field, got[0])
				}
			}
			if got[0]["port"] != 7946.0 || got[1]["status"] != "failed" {
				t.Errorf("members %v", got)
			}
		})
	}
	if out := a.run(t, "members", "-json", "-status", "left").ok(t); out != "[]\n" {
		t.Errorf("no member: %q, want []", out)
	}
}

func TestMembersBadStatus(t *testing.T) {
	a := newAgent(t)
	a.run(t, "members", "-status", "dead").fails(t, `unknown status "dead"`)
}
