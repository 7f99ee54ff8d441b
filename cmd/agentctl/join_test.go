package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/murmurhq/murmur/agent/httpapi"
)

func TestJoin(t *testing.T) {
	a := newAgent(t)
	out := a.run(t, "join", "10.0.0.2:7946", "10.0.0.3:7946").ok(t)
	if out != "joined through 2 of 2 addresses\n" {
		t.Errorf("stdout %q", out)
	}
	if got := a.b.Joined(); !slices.Equal(got, []string{"10.0.0.2:7946", "10.0.0.3:7946"}) {
		t.Errorf("joined %v", got)
	}
	a.b.SetJoin(func(context.Context, []string) (int, error) { return 1, nil })
	if out := a.run(t, "join", "x:1", "y:1").ok(t); out != "joined through 1 of 2 addresses\n" {
		t.Errorf("stdout %q", out)
	}
	// One of two fails: the output names it and why.
	a.b.SetJoin(func(context.Context, []string) (int, error) {
		return 1, fmt.Errorf("agent: join: %w", errors.Join(errors.New("failed to join y:1: dial tcp y:1: connect: connection refused")))
	})
	want := "joined through 1 of 2 addresses\nthese did not answer:\n  failed to join y:1: dial tcp y:1: connect: connection refused\n"
	if out := a.run(t, "join", "x:1", "y:1").ok(t); out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
}

func TestJoinFails(t *testing.T) {
	a := newAgent(t)
	a.b.Fail("Join", errors.New("agent: join: none answered:\n  10.0.0.9:7946: connection refused\n  10.0.0.8:7946: i/o timeout"))
	a.run(t, "join", "10.0.0.9:7946", "10.0.0.8:7946").
		fails(t, "agent: join: none answered: 10.0.0.9:7946: connection refused; 10.0.0.8:7946: i/o timeout\n")
	a.b.Fail("Join", fmt.Errorf("%w: agent: shutting down", httpapi.ErrUnavailable))
	a.run(t, "join", "x:1").fails(t, "agentctl: agent: shutting down\n")
}

func TestLeave(t *testing.T) {
	a := newAgent(t)
	a.b.Fail("Leave", errors.New("agent: leave: timed out"))
	a.run(t, "leave").fails(t, "agent: leave: timed out")
	if a.b.Left() {
		t.Fatal("left despite the error")
	}
	a.b.Fail("Leave", nil)
	if out := a.run(t, "leave").ok(t); out != "left the cluster; the agent is shutting down\n" {
		t.Errorf("stdout %q", out)
	}
	if !a.b.Left() {
		t.Error("did not leave")
	}
}
