package main

import (
	"testing"

	"github.com/murmurhq/murmur/agent/client"
)

func TestVersion(t *testing.T) {
	a := newAgent(t)
	a.b.SetSelf(client.Self{Node: "n1", Version: "1.4.0"})
	want := "agentctl " + version + "\nagent    1.4.0 (node n1 at " + a.addr + ")\n"
	if out := a.run(t, "version").ok(t); out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if version != "dev" {
		t.Errorf("default version %q, want dev", version)
	}
	// An unreachable agent is not an error: only agentctl's version shows.
	down := &agent{addr: closedAddr(t)}
	if out := down.run(t, "version").ok(t); out != "agentctl dev\n" {
		t.Errorf("unreachable: %q", out)
	}
}
