package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
		{"bad consul addr", []string{"-dev", "-consul-addr", "127.0.0.1"}, "consul_api.addr"},
		{"bad datacenter", []string{"-dev", "-datacenter", "east/1"}, "datacenter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tc.args, &stderr, nil)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
}

// syncBuf is a bytes.Buffer safe for the agent's log goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunDevSignals(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "a.toml")
	os.WriteFile(cf, []byte("[log]\nlevel = \"info\"\n"), 0o600)
	sig := make(chan os.Signal, 2)
	var stderr syncBuf
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"-dev", "-config", cf, "-node", "sigtest", "-bind", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-consul-addr", "127.0.0.1:0", "-dns-addr", "127.0.0.1:0"}, &stderr, sig)
	}()
	waitLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("log never showed %q:\n%s", what, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLog("agent started")
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
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "leaving cluster") {
		t.Errorf("no graceful leave in log:\n%s", stderr.String())
	}
}
