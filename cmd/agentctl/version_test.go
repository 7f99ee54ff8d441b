package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/internal/buildinfo"
)

func TestVersion(t *testing.T) {
	a := newAgent(t)
	a.b.SetSelf(client.Self{Node: "n1", Version: "1.4.0"})
	self := "agentctl " + buildinfo.Read().String() + "\n"
	if !strings.HasPrefix(self, "agentctl dev (commit ") || !strings.HasSuffix(self, ", "+runtime.Version()+")\n") {
		t.Errorf("agentctl's own line %q: want version, commit and Go version", self)
	}
	want := self + "agent    1.4.0 (node n1 at " + a.addr + ")\n"
	if out := a.run(t, "version").ok(t); out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	// An unreachable agent is not an error: only agentctl's version shows.
	down := &agent{addr: refusedAddr(t)}
	if out := down.run(t, "version").ok(t); out != self {
		t.Errorf("unreachable: %q", out)
	}
}
