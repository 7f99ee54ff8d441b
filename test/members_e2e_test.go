package test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/murmurhq/murmur/internal/testutil"
)

// TestMembershipE2E: three real agents join; kill -9 is seen as failed;
// SIGTERM is a graceful leave seen as left, with exit status 0.
func TestMembershipE2E(t *testing.T) {
	ps := cluster(t, 3, agentOpts{})

	ps[2].kill9()
	allSee(t, ps[:2], "node3", "failed", patience)

	ps[1].signal(syscall.SIGTERM)
	err, ok := ps[1].wait(patience)
	if !ok {
		t.Fatal("agentd did not exit after SIGTERM")
	}
	if err != nil {
		t.Fatalf("agentd exited with %v after SIGTERM, want status 0", err)
	}
	allSee(t, ps[:1], "node2", "left", patience)
}

// TestAgentctlMembers checks agentctl's table and -json output against a
// live cluster.
func TestAgentctlMembers(t *testing.T) {
	ps := cluster(t, 3, agentOpts{})
	out, errOut, code := ps[0].agentctl("members")
	if code != 0 {
		t.Fatalf("agentctl members: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want header + 3 rows, got:\n%s", out)
	}
	col := strings.Index(lines[0], "STATUS")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "alive") {
			t.Errorf("STATUS column not aligned in %q (header %q)", l, lines[0])
		}
	}

	out, errOut, code = ps[0].agentctl("members", "-json")
	if code != 0 {
		t.Fatalf("agentctl members -json: exit %d: %s", code, errOut)
	}
	var ms []map[string]any
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		t.Fatalf("-json output is not a JSON array: %v\n%s", err, out)
	}
	if len(ms) != 3 {
		t.Fatalf("want 3 members, got %d", len(ms))
	}
	for _, m := range ms {
		for _, k := range []string{"name", "address", "port", "status"} {
			if _, ok := m[k]; !ok {
				t.Errorf("member %v lacks %q", m, k)
			}
		}
	}
	names := map[string]bool{}
	for _, m := range ms {
		names[m["name"].(string)] = true
	}
	for _, p := range ps {
		if !names[p.name] {
			t.Errorf("%s missing from -json", p.name)
		}
	}
}

// TestAgentctlUnreachable: a dead agent address gives exit 1 and one line
// on stderr naming the address.
func TestAgentctlUnreachable(t *testing.T) {
	binaries(t)
	addr := testutil.RefusedAddr(t)
	out, errOut, code := runCtl(t, "", "-http-addr", addr, "members")
	if code == 0 {
		t.Fatalf("exit 0 against a closed port; stdout %q", out)
	}
	if lines := strings.Split(strings.TrimSpace(errOut), "\n"); len(lines) != 1 || !strings.Contains(errOut, addr) {
		t.Fatalf("stderr should be one line naming %s, got %q", addr, errOut)
	}
}

// TestAgentdDevStarts: the README's run command works with no config.
func TestAgentdDevStarts(t *testing.T) {
	p := startAgentd(t, "dev1", agentOpts{noData: true})
	var self map[string]any
	if err := p.getJSON("/v1/agent/self", &self); err != nil {
		t.Fatal(err)
	}
	if self["node"] != "dev1" {
		t.Fatalf("self = %v", self)
	}
}

// TestAgentdBadConfig: an unknown key fails at start naming key and line.
func TestAgentdBadConfig(t *testing.T) {
	bin := binaries(t)
	dir := t.TempDir()
	cf := dir + "/bad.toml"
	writeFile(t, cf, "node_name = \"x\"\ndata_dir = \""+dir+"\"\n[gossip]\nprobe_intervall = \"1s\"\n")
	out, err := exec.Command(bin+"/agentd", "-config", cf).CombinedOutput()
	if err == nil {
		t.Fatalf("agentd accepted an unknown key:\n%s", out)
	}
	for _, want := range []string{"line 4", "gossip.probe_intervall"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestAgentctlRTT: network coordinates ride on ping acks, so after a few
// probes agentctl rtt estimates the round trip between agents.
func TestAgentctlRTT(t *testing.T) {
	ps := cluster(t, 2, agentOpts{})
	var out string
	eventually(t, patience, "a coordinate for node2", func() bool {
		var code int
		out, _, code = ps[0].agentctl("rtt", "node2")
		return code == 0
	})
	if !strings.Contains(out, "estimated rtt from node1 to node2") {
		t.Fatalf("rtt output: %q", out)
	}
	if _, errOut, code := ps[0].agentctl("rtt", "nosuch"); code != 1 || !strings.Contains(errOut, "nosuch") {
		t.Fatalf("rtt to an unknown node: exit %d %q", code, errOut)
	}
}
