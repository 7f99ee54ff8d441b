package arrows

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/murmurhq/murmur/"

// linked lists, per package, what it must not depend on, directly or
// through others.
var linked = map[string][]string{
	"configsync":    {mod + "agent", mod + "catalog", mod + "dnsserver", mod + "membership", "github.com/hashicorp/memberlist", "net"},
	"dnsserver":     {mod + "agent", mod + "membership", "github.com/hashicorp/memberlist"},
	"catalog":       {mod + "agent", mod + "dnsserver", mod + "membership", "github.com/hashicorp/memberlist"},
	"membership":    {mod + "agent", mod + "dnsserver", "github.com/hashicorp/memberlist"},
	"agent/httpapi": {mod + "agent", "github.com/hashicorp/memberlist"},
	"consulapi":     {mod + "agent", mod + "dnsserver", "github.com/hashicorp/memberlist"},
	"agent/client":  {mod + "agent", mod + "catalog", mod + "configsync", mod + "dnsserver", mod + "membership", "github.com/hashicorp/memberlist"},
	// The dashboard is static files; watches read the agent through their
	// own interfaces and agentctl links them, so no memberlist.
	"ui":    {mod + "agent", mod + "configsync", mod + "catalog", mod + "membership", "github.com/hashicorp/memberlist"},
	"watch": {mod + "agent", mod + "configsync", mod + "catalog", mod + "membership", mod + "dnsserver", "github.com/hashicorp/memberlist"},
}

// imported lists what a package must not import itself. dnsserver links
// configsync through catalog's types, but never imports it.
var imported = map[string][]string{
	"dnsserver":  {mod + "configsync"},
	"membership": {mod + "configsync"},
}

func TestArrows(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps=false", "-json", "../../...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps, imports := map[string][]string{}, map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Deps       []string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		deps[strings.TrimPrefix(p.ImportPath, mod)] = p.Deps
		imports[strings.TrimPrefix(p.ImportPath, mod)] = p.Imports
	}
	for _, rule := range []struct {
		what  string
		rules map[string][]string
		got   map[string][]string
	}{{"depends on", linked, deps}, {"imports", imported, imports}} {
		for pkg, bad := range rule.rules {
			d, ok := rule.got[pkg]
			if !ok {
				t.Fatalf("package %s not found", pkg)
			}
			for _, b := range bad {
				if slices.Contains(d, b) {
					t.Errorf("%s %s %s", pkg, rule.what, b)
				}
			}
		}
	}
	// No part imports the agent: only cmd/, examples/ and test/ do.
	for pkg, d := range deps {
		if slices.Contains(d, mod+"agent") && !strings.HasPrefix(pkg, "cmd/") && !strings.HasPrefix(pkg, "examples/") && !strings.HasPrefix(pkg, "test") {
			t.Errorf("%s imports agent", pkg)
		}
	}
}
