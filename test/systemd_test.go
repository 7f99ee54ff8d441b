//go:build linux

package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/murmurhq/murmur/internal/testutil"
)

// TestSystemdExample checks examples/systemd as its README installs it:
// the unit passes systemd-analyze verify without a warning, the sysusers
// file is valid, and the example agent.toml passes agentd -check-config
// once the README's sed has put a key in (and fails, naming the key,
// before).
func TestSystemdExample(t *testing.T) {
	analyze := testutil.NeedTool(t, "systemd-analyze", "apt-get install systemd")
	sysusers := testutil.NeedTool(t, "systemd-sysusers", "apt-get install systemd")
	bin := binaries(t)
	dir := t.TempDir()

	t.Run("unit", func(t *testing.T) {
		unit, err := os.ReadFile("../examples/systemd/murmur.service")
		if err != nil {
			t.Fatal(err)
		}
		// verify checks that the commands exist: point them at the binaries
		// this test built.
		text := strings.ReplaceAll(string(unit), "/usr/local/bin/agentd", filepath.Join(bin, "agentd"))
		if !strings.Contains(text, "ExecStartPre="+filepath.Join(bin, "agentd")+" -check-config /etc/murmur/agent.toml") {
			t.Fatalf("the unit no longer checks its config before starting:\n%s", unit)
		}
		path := filepath.Join(dir, "murmur.service")
		writeFile(t, path, text)
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
		// It does catch mistakes (so the clean pass above means something).
		writeFile(t, path, strings.Replace(text, "ProtectHome=yes", "ProtectHome=perhaps", 1))
		if out, _ := exec.Command(analyze, "verify", path).CombinedOutput(); !strings.Contains(string(out), "protect home") {
			t.Errorf("systemd-analyze verify accepted ProtectHome=perhaps: %s", out)
		}
	})

	t.Run("sysusers", func(t *testing.T) {
		root := filepath.Join(dir, "root")
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		conf, _ := filepath.Abs("../examples/systemd/murmur.sysusers")
		out, err := exec.Command(sysusers, "--dry-run", "--root="+root, conf).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Creating user 'murmur'") {
			t.Fatalf("systemd-sysusers --dry-run: %v\n%s", err, out)
		}
	})

	t.Run("config", func(t *testing.T) {
		example, err := os.ReadFile("../examples/systemd/agent.toml")
		if err != nil {
			t.Fatal(err)
		}
		cf := filepath.Join(dir, "agent.toml")
		writeFile(t, cf, string(example))
		check := func() (string, string, int) {
			return runCmd(t, exec.Command(filepath.Join(bin, "agentd"), "-check-config", cf))
		}
		// As shipped: the placeholder key is refused, with its line.
		_, errOut, code := check()
		if code != 1 || !regexp.MustCompile(`^agentd: invalid configuration: .*agent\.toml: line \d+: gossip\.key: not valid base64`).MatchString(errOut) {
			t.Fatalf("placeholder key: exit %d, stderr %q", code, errOut)
		}
		// The README's sed with a key from agentctl keygen.
		key, keyErr, keyCode := runCtl(t, "", "keygen")
		if keyCode != 0 {
			t.Fatalf("agentctl keygen: %s", keyErr)
		}
		sed := exec.Command("sed", "-i", "s|REPLACE-WITH-agentctl-keygen|"+strings.TrimSpace(key)+"|", cf)
		if out, err := sed.CombinedOutput(); err != nil {
			t.Fatalf("sed: %v %s", err, out)
		}
		if err := os.Chmod(cf, 0o640); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := check()
		if code != 0 || errOut != "" || !strings.Contains(out, "valid configuration: node ") || !strings.Contains(out, "data_dir /var/lib/murmur") {
			t.Fatalf("with a key, mode 0640: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		// World-readable, it still validates but warns.
		if err := os.Chmod(cf, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, errOut, code := check(); code != 0 || !strings.Contains(errOut, "readable by every user") {
			t.Fatalf("mode 0644: exit %d, stderr %q", code, errOut)
		}
	})
}
