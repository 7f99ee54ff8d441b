package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/buildinfo"
	"github.com/murmurhq/murmur/internal/testutil"
)

func TestFlagsOverrideFile(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "a.toml")
	os.WriteFile(cf, []byte(`
node_name = "from-file"
bind_addr = "127.0.0.1:7000"
data_dir = "`+dir+`"
join = ["127.0.0.1:7100"]
[http]
addr = "127.0.0.1:7001"
[log]
level = "warn"
`), 0o600)
	f, err := parseFlags([]string{"-config", cf, "-node", "from-flag", "-join", "127.0.0.1:7200", "-join", "127.0.0.1:7300", "-log-level", "debug"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "from-flag" {
		t.Errorf("node = %q, flag should win", cfg.NodeName)
	}
	if cfg.BindAddr != "127.0.0.1:7000" {
		t.Errorf("bind = %q, file value should stay when no flag", cfg.BindAddr)
	}
	if strings.Join(cfg.Join, ",") != "127.0.0.1:7200,127.0.0.1:7300" {
		t.Errorf("join = %v, repeated flags should replace the file's list", cfg.Join)
	}
	if cfg.HTTP.Addr != "127.0.0.1:7001" || cfg.Log.Level != "debug" {
		t.Errorf("http %q level %q", cfg.HTTP.Addr, cfg.Log.Level)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("data_dir = \""+dir+"\"\n[kv]\nmax_value_bytes = -1\n"), 0o600)
	unknownTable := filepath.Join(dir, "table.toml")
	os.WriteFile(unknownTable, []byte("data_dir = \""+dir+"\"\n[htpp]\naddr = \"127.0.0.1:1\"\n"), 0o600)
	twoBad := filepath.Join(dir, "two.toml")
	os.WriteFile(twoBad, []byte("nod_name = \"x\"\n[dns]\nadr = \"127.0.0.1:1\"\n"), 0o600)
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o600)
	storeIsDir := filepath.Join(dir, "store-dir")
	os.MkdirAll(filepath.Join(storeIsDir, "configsync.db"), 0o700)
	noFaces := []string{"-dev", "-bind", "127.0.0.1:0", "-http-addr", "", "-dns-addr", ""}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no data dir", []string{}, "data_dir: required"},
		{"bad flag value", []string{"-dev", "-bind", "nope"}, "bind_addr"},
		{"bad file value", []string{"-config", bad}, "line 3: kv.max_value_bytes"},
		{"missing file", []string{"-config", filepath.Join(dir, "none.toml")}, "none.toml"},
		{"bad dns addr", []string{"-dev", "-dns-addr", "127.0.0.1"}, "dns.addr"},
		{"unknown table", []string{"-config", unknownTable}, "invalid configuration: " + unknownTable + `: line 2: unknown table [htpp] (did you mean "http"?)`},
		{"two problems, each named", []string{"-config", twoBad}, twoBad + ": line 3: unknown key \"dns.adr\""},
		{"data dir under a file", append(noFaces, "-data-dir", filepath.Join(notDir, "sub")), "agentd: data_dir: mkdir " + notDir + ": not a directory"},
		{"bad consul addr", []string{"-dev", "-consul-addr", "127.0.0.1"}, "consul_api.addr"},
		{"bad datacenter", []string{"-dev", "-datacenter", "east/1"}, "datacenter"},
	}
	// The store's error names its file once, not twice.
	db := filepath.Join(storeIsDir, "configsync.db")
	tests = append(tests, struct {
		name string
		args []string
		want string
	}{"store unopenable", append(noFaces, "-data-dir", storeIsDir), "agentd: open store: configsync: open " + db + ": is a directory\n"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tc.args, io.Discard, &stderr, nil)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q lacks %q", stderr.String(), tc.want)
			}
			for _, line := range strings.SplitAfter(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
				if !strings.HasPrefix(line, "agentd: ") || strings.HasPrefix(line, "agentd: agent: ") {
					t.Errorf("stderr line %q: want one \"agentd: \" prefix and no package prefix after it", line)
				}
			}
		})
	}
}

// syncBuf is testutil.SyncBuffer.
type syncBuf = testutil.SyncBuffer

func TestRunDevSignals(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "a.toml")
	os.WriteFile(cf, []byte("[log]\nlevel = \"info\"\n"), 0o600)
	sig := make(chan os.Signal, 2)
	var stderr syncBuf
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"-dev", "-config", cf, "-node", "sigtest", "-bind", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-consul-addr", "127.0.0.1:0", "-dns-addr", "127.0.0.1:0"}, io.Discard, &stderr, sig)
	}()
	waitLog := func(what string) {
		t.Helper()
		testutil.WaitFor(t, 30*time.Second, fmt.Sprintf("log line %q in:\n%s", what, &stderr), func() bool {
			return strings.Contains(stderr.String(), what)
		})
	}
	waitLog("agent started")
	sig <- syscall.SIGHUP // file unchanged: the log says so
	waitLog(`reload: configuration unchanged, nothing to apply" file=` + cf)
	os.WriteFile(cf, []byte("reap_after = \"1h\"\n[log]\nlevel = \"debug\"\n"), 0o600)
	sig <- syscall.SIGHUP
	waitLog("reloaded log level")
	waitLog(`config change needs a restart, not applied" key=reap_after`)
	sig <- syscall.SIGTERM
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d after SIGTERM", c)
		}
	case <-time.After(60 * time.Second): // a hang, not slowness
		t.Fatal("run did not return after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "leaving cluster") {
		t.Errorf("no graceful leave in log:\n%s", stderr.String())
	}
}

func TestStrayArgument(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-join", "127.0.0.1:1", "127.0.0.1:2"}, `agentd: unexpected argument "127.0.0.1:2": -join takes one address; repeat it to join several: -join A -join B (see agentd -help)` + "\n"},
		{[]string{"-dev", "extra"}, `agentd: unexpected argument "extra": agentd takes flags only (see agentd -help)` + "\n"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr, nil); code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if stderr.String() != tc.want || stdout.Len() != 0 {
			t.Errorf("%v: stderr %q stdout %q, want stderr %q", tc.args, stderr.String(), stdout.String(), tc.want)
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"-bogus"}, io.Discard, &stderr, nil); code != 2 || !strings.Contains(stderr.String(), "-bogus") {
		t.Errorf("unknown flag: exit %d, stderr %q", code, stderr.String())
	}
}

func TestVersionFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-version"}, &stdout, &stderr, nil); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// The same line as agentctl version's first (cmd/agentctl/version.go).
	if want := "agentd " + buildinfo.Read().String() + "\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	good := write("good.toml", "node_name = \"web-1\"\ndata_dir = \"/var/lib/murmur\"\n[gossip]\nkey = \"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=\"\n", 0o640)
	open := write("open.toml", "node_name = \"web-1\"\nbind_addr = \"127.0.0.1:7946\"\ndata_dir = \"/var/lib/murmur\"\n[http]\ntoken = \"t\"\n", 0o644)
	plain := write("plain.toml", "node_name = \"web-1\"\ndata_dir = \"/var/lib/murmur\"\n", 0o640)
	badTLS := write("tls.toml", "node_name = \"web-1\"\nbind_addr = \"127.0.0.1:7946\"\ndata_dir = \"/var/lib/murmur\"\n[http]\ntls_cert_file = \"/nonexistent/cert.pem\"\ntls_key_file = \"/nonexistent/key.pem\"\n", 0o640)
	bad := write("bad.toml", "node_name = \"web-1\"\ndata_dir = \"/var/lib/murmur\"\n[gossip]\nkey = \"short\"\n", 0o640)
	malformed := write("malformed.toml", "node_name = \"web-1\"\ndata_dir = \"/var/lib/murmur\n", 0o640)
	unknownTable := write("table.toml", "node_name = \"web-1\"\n[htpp]\naddr = \"127.0.0.1:7947\"\n", 0o640)
	unknownKey := write("key.toml", "node_name = \"web-1\"\n[gossip]\nkey_file = \"/etc/murmur/key\"\n", 0o640)
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string // substrings; "" stderr means empty
	}{
		{"valid", []string{"-check-config", good}, 0, good + ": valid configuration: node web-1, gossip 0.0.0.0:7946, http 127.0.0.1:7947, consul off, dns 127.0.0.1:8600, data_dir /var/lib/murmur, 0 services", ""},
		{"flags apply", []string{"-check-config", good, "-http-addr", "nope"}, 1, "", "http.addr: \"nope\": want IP:PORT"},
		{"same file with -config", []string{"-config", good, "-check-config", good}, 0, "valid configuration", ""},
		{"different -config", []string{"-config", bad, "-check-config", good}, 2, "", "name different files"},
		{"invalid", []string{"-check-config", bad}, 1, "", "agentd: invalid configuration: " + bad + ": line 4: gossip.key"},
		{"missing", []string{"-check-config", filepath.Join(dir, "none.toml")}, 1, "", "none.toml: no such file"},
		{"malformed TOML", []string{"-check-config", malformed}, 1, "", "agentd: invalid configuration: " + malformed + ": line 2: data_dir"},
		{"unknown table", []string{"-check-config", unknownTable}, 1, "", unknownTable + ": line 2: unknown table [htpp] (did you mean \"http\"?)"},
		{"unknown key", []string{"-check-config", unknownKey}, 1, "", unknownKey + ": line 3: unknown key \"gossip.key_file\""},
		{"world-readable secret", []string{"-check-config", open}, 0, "valid configuration", "agentd: warning: " + open + " holds secrets"},
		// What Start refuses, not Validate: -check-config refuses it too.
		{"plaintext gossip off loopback", []string{"-check-config", plain}, 1, "", "agentd: invalid configuration: gossip on 0.0.0.0:7946 is reachable beyond this machine and has no key"},
		{"TLS files missing", []string{"-check-config", badTLS}, 1, "", "agentd: http.tls_cert_file /nonexistent/cert.pem"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr, nil)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) || (tc.stdout == "" && stdout.Len() > 0) {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) || (tc.stderr == "" && stderr.Len() > 0) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
		})
	}
}
