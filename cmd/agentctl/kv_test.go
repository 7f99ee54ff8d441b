package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murmurhq/murmur/agent/client"
)

func TestKVPut(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	if err := os.WriteFile(file, []byte("{\"a\":1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
		value string
		out   string
	}{
		{"literal", []string{"kv", "put", "app/mode", "blue"}, "", "blue", "wrote app/mode (4 bytes, version 1700000000001.0)\n"},
		{"stdin", []string{"kv", "put", "app/mode", "-"}, "from\x00stdin\n", "from\x00stdin\n", "wrote app/mode (11 bytes"},
		{"file", []string{"kv", "put", "app/mode", "@" + file}, "", "{\"a\":1}\n", "(8 bytes"},
		{"empty", []string{"kv", "put", "app/mode", ""}, "", "", "(0 bytes"},
		{"one byte", []string{"kv", "put", "app/mode", "x"}, "", "x", "(1 byte,"},
		{"value after --", []string{"kv", "put", "--", "app/mode", "-json"}, "", "-json", "wrote app/mode"},
		{"flags", []string{"kv", "put", "-flags", "9", "app/mode", "v"}, "", "v", "wrote"},
		{"json", []string{"kv", "put", "app/mode", "v", "-json"}, "", "v", `"key": "app/mode"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAgent(t)
			out := a.runWith(t, inv{stdin: tt.stdin}, tt.args...).ok(t)
			if !strings.Contains(out, tt.out) {
				t.Errorf("stdout %q, want %q", out, tt.out)
			}
			p, err := a.b.Get("app/mode")
			if err != nil || string(p.Value) != tt.value {
				t.Errorf("stored %q %v, want %q", p.Value, err, tt.value)
			}
			if tt.name == "flags" && p.Flags != 9 {
				t.Errorf("flags %d", p.Flags)
			}
		})
	}
}

func TestKVPutFails(t *testing.T) {
	a := newAgent(t)
	a.b.MaxValueBytes = 3
	a.run(t, "kv", "put", "k", "1234").fails(t, "agentctl: httpapitest: value is 4 bytes, limit kv.max_value_bytes is 3\n")
	a.run(t, "kv", "put", "k", "@/nonexistent/file").fails(t, "reading the value: open /nonexistent/file: no such file or directory")
	a.run(t, "kv", "put", "_murmur/x", "v").fails(t, "_murmur/")
	a.run(t, "kv", "put", "bad\x01key", "v").fails(t, "invalid key")
	if keys := a.b.Keys(""); len(keys) != 0 {
		t.Errorf("store changed: %v", keys)
	}
}

func TestKVGet(t *testing.T) {
	a := newAgent(t)
	value := "line1\nline2\x00\xff" // exact bytes, no newline added
	if _, err := a.b.Put(context.Background(), "app/bin", []byte(value), 0); err != nil {
		t.Fatal(err)
	}
	if out := a.run(t, "kv", "get", "app/bin").ok(t); out != value {
		t.Errorf("stdout %q, want %q", out, value)
	}
	for _, spelling := range []string{"-json", "--json"} {
		var p client.KVPair
		out := a.run(t, "kv", "get", spelling, "app/bin").ok(t)
		if err := json.Unmarshal([]byte(out), &p); err != nil || string(p.Value) != value || p.Key != "app/bin" || p.Version == "" {
			t.Errorf("%s: %q %+v %v", spelling, out, p, err)
		}
	}
	a.run(t, "kv", "get", "app/none").fails(t, "agentctl: key app/none not found\n")
	a.run(t, "kv", "get", "-json", "app/none").fails(t, "agentctl: key app/none not found\n")
}

func TestKVDelete(t *testing.T) {
	a := newAgent(t)
	for _, k := range []string{"app/a", "app/b", "app/c", "other"} {
		if _, err := a.b.Put(context.Background(), k, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if out := a.run(t, "kv", "delete", "app/a").ok(t); out != "deleted 1 key\n" {
		t.Errorf("stdout %q", out)
	}
	if out := a.run(t, "kv", "delete", "app/a").ok(t); out != "deleted 0 keys\n" {
		t.Errorf("stdout %q", out)
	}
	if out := a.run(t, "kv", "delete", "-recurse", "app/").ok(t); out != "deleted 2 keys\n" {
		t.Errorf("stdout %q", out)
	}
	a.run(t, "kv", "delete", "--recurse", "").fails(t, "read-only")
	if got := strings.Join(a.b.Keys(""), ","); got != "other" {
		t.Errorf("keys left %q", got)
	}
}

func TestKVList(t *testing.T) {
	a := newAgent(t)
	if out := a.run(t, "kv", "list").ok(t); out != "" {
		t.Errorf("empty store: %q", out)
	}
	for _, k := range []string{"app/b", "app/a", "other", "app/ünï"} {
		if _, err := a.b.Put(context.Background(), k, []byte("v-"+k), 0); err != nil {
			t.Fatal(err)
		}
	}
	if out := a.run(t, "kv", "list", "app/").ok(t); out != "app/a\napp/b\napp/ünï\n" {
		t.Errorf("stdout %q", out)
	}
	if out := a.run(t, "kv", "list").ok(t); out != "app/a\napp/b\napp/ünï\nother\n" {
		t.Errorf("all keys %q", out)
	}
	var pairs []client.KVPair
	out := a.run(t, "kv", "list", "app/", "-json").ok(t)
	if err := json.Unmarshal([]byte(out), &pairs); err != nil || len(pairs) != 3 || string(pairs[1].Value) != "v-app/b" {
		t.Errorf("json %q: %v", out, err)
	}
	if out := a.run(t, "kv", "list", "none/", "-json").ok(t); out != "[]\n" {
		t.Errorf("json of nothing %q", out)
	}
}

func TestKVWatch(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(map[bool]string{false: "text", true: "json"}[asJSON], func(t *testing.T) {
			a := newAgent(t)
			put := func(k, v string) {
				t.Helper()
				if _, err := a.b.Put(context.Background(), k, []byte(v), 0); err != nil {
					t.Fatal(err)
				}
			}
			put("app/a", "1")
			put("other", "x")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdout := &syncBuffer{}
			done := make(chan result, 1)
			args := []string{"kv", "watch", "app/"}
			if asJSON {
				args = append(args, "-json")
			}
			go func() { done <- a.runWith(t, inv{ctx: ctx, stdout: stdout}, args...) }()
			lines := func() []string { return strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") }
			waitLines := func(n int) {
				t.Helper()
				eventually(t, "watch output", func() bool { return stdout.String() != "" && len(lines()) >= n })
			}
			waitLines(1)
			put("app/b", "two\nlines")
			waitLines(2)
			put("other", "y")
			if _, err := a.b.Delete(context.Background(), "app/a", false); err != nil {
				t.Fatal(err)
			}
			waitLines(3)
			cancel() // SIGINT
			r := <-done
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("interrupted watch: exit %d, stderr %q", r.code, r.stderr)
			}
			got := lines()
			if !asJSON {
				want := []string{"app/a=1", `app/b=two\nlines`, "app/a deleted"}
				if strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("watch printed %q, want %q", got, want)
				}
				return
			}
			var evs []client.KVEvent
			for _, l := range got {
				var ev client.KVEvent
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				evs = append(evs, ev)
			}
			if len(evs) != 3 || evs[0].Key != "app/a" || string(evs[1].Value) != "two\nlines" || !evs[2].Deleted || evs[2].Key != "app/a" {
				t.Errorf("events %+v", evs)
			}
		})
	}
}

func TestKVWatchAgentGoes(t *testing.T) {
	a := newAgent(t)
	a.b.Fail("Wait", os.ErrClosed)
	a.run(t, "kv", "watch", "app/").fails(t, "file already closed")
}

func TestKVWatchExec(t *testing.T) {
	a := newAgent(t)
	put := func(k, v string) {
		t.Helper()
		if _, err := a.b.Put(context.Background(), k, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	put("app/a", "1")
	out := filepath.Join(t.TempDir(), "runs")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		done <- a.runWith(t, inv{ctx: ctx}, "kv", "watch", "app/", "-exec", `cat >> "`+out+`"`, "-debounce", "10ms")
	}()
	runs := func() []string {
		b, _ := os.ReadFile(out)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	eventually(t, "the first run", func() bool { b, _ := os.ReadFile(out); return len(b) > 0 })
	put("app/b", "2")
	put("other", "x") // outside the prefix: no run
	eventually(t, "a run after the change", func() bool { return len(runs()) == 2 })
	var pairs []client.KVPair
	if err := json.Unmarshal([]byte(runs()[1]), &pairs); err != nil || len(pairs) != 2 || string(pairs[1].Value) != "2" {
		t.Fatalf("second run got %s (%v)", runs()[1], err)
	}
	cancel()
	if r := <-done; r.code != 0 || r.stderr != "" {
		t.Fatalf("interrupted watch: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := len(runs()); n != 2 {
		t.Fatalf("%d runs, want 2", n)
	}
}

func TestKVWatchExecReportsFailures(t *testing.T) {
	a := newAgent(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan result, 1)
	go func() {
		done <- a.runWith(t, inv{ctx: ctx, stderr: stderr}, "kv", "watch", "app/", "-exec", "echo broken >&2; exit 3")
	}()
	eventually(t, "the failure on stderr", func() bool { return strings.Contains(stderr.String(), "broken") })
	cancel()
	<-done
	a.run(t, "kv", "watch", "app/", "-exec", "true", "-timeout", "0s").fails(t, "-timeout must be positive")
}
