package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/agent/client"
)

func TestWaitReady(t *testing.T) {
	a := newAgent(t)
	a.b.SetMembers(client.Member{Name: "node1", Status: "alive"}, client.Member{Name: "node2", Status: "alive"}, client.Member{Name: "node3", Status: "failed"})
	a.b.AddInstances(client.ServiceInstance{Node: "node2", ID: "web", Name: "web", Health: client.HealthPassing, NodeStatus: "alive"})
	a.b.Put(context.Background(), "app/color", []byte("blue"), 0)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"wait"}, "agent node1 is ready at " + a.addr + "\n"},
		{[]string{"wait", "-members", "2", "-service", "web", "-key", "app/color"},
			"agent node1 is ready at " + a.addr + ", 2 members alive, service web passing, key app/color present\n"},
	}
	for _, tt := range tests {
		if out := a.run(t, tt.args...).ok(t); out != tt.want {
			t.Errorf("%v: stdout %q, want %q", tt.args, out, tt.want)
		}
	}
}

// TestWaitTimesOut: a condition that never holds ends at -timeout with
// exit 1 naming what was missing.
func TestWaitTimesOut(t *testing.T) {
	a := newAgent(t)
	a.b.AddInstances(client.ServiceInstance{Node: "node1", ID: "db", Name: "db", Health: client.HealthCritical, NodeStatus: "alive"})
	down := &agent{addr: refusedAddr(t)}
	tests := []struct {
		a    *agent
		args []string
		want string
	}{
		{down, nil, "agentctl: timed out after 200ms waiting for the agent at " + down.addr + ": no answer (connection refused)\n"},
		{a, []string{"-members", "2"}, "waiting for the agent at " + a.addr + ": 1 member alive, want 2\n"},
		{a, []string{"-service", "db"}, "service db has no passing instance\n"},
		{a, []string{"-service", "nosuch"}, "service nosuch has no passing instance\n"},
		{a, []string{"-key", "app/none"}, "key app/none not found\n"},
	}
	for _, tt := range tests {
		args := append([]string{"wait", "-timeout", "200ms"}, tt.args...)
		tt.a.run(t, args...).fails(t, tt.want)
	}
	a.run(t, "wait", "-members", "-1").fails(t, "-members -1 is negative")
}

// TestWaitUntilReady: wait returns once the condition becomes true.
func TestWaitUntilReady(t *testing.T) {
	a := newAgent(t)
	done := make(chan result, 1)
	go func() { done <- a.runWith(t, inv{}, "wait", "-key", "late", "-members", "2", "-timeout", "0") }()
	a.b.Put(context.Background(), "late", []byte("x"), 0)
	a.b.SetMembers(client.Member{Name: "node1", Status: "alive"}, client.Member{Name: "node2", Status: "alive"})
	select {
	case r := <-done:
		if out := r.ok(t); !strings.Contains(out, "2 members alive, key late present") {
			t.Errorf("stdout %q", out)
		}
	case <-time.After(time.Minute): // a hang, not slowness
		t.Fatal("wait did not return once the key and members were there")
	}
}

// TestWaitInterrupted: Ctrl-C ends a wait with "interrupted".
func TestWaitInterrupted(t *testing.T) {
	a := newAgent(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- a.runWith(t, inv{ctx: ctx}, "wait", "-key", "never", "-timeout", "0") }()
	cancel()
	select {
	case r := <-done:
		r.fails(t, "agentctl: interrupted\n")
	case <-time.After(time.Minute):
		t.Fatal("wait ignored the interrupt")
	}
}
