package main

import (
	"crypto/tls"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/agent/httpapi/httpapitest"
	"github.com/murmurhq/murmur/internal/testutil"
)

const (
	oldKey = "MTIzNDU2Nzg5MDEyMzQ1Ng=="
	newKey = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY="
)

// newKeyringAgent is newAgent with a keyring of 3 members.
func newKeyringAgent(t *testing.T) (*agent, *httpapitest.Keyring) {
	t.Helper()
	b := httpapitest.New()
	kr := httpapitest.NewKeyring(3, oldKey)
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Membership: b, KV: b, Services: b, Keyring: kr, Token: testToken}))
	t.Cleanup(srv.Close)
	return &agent{b: b, addr: srv.Listener.Addr().String()}, kr
}

func TestKeyringRotate(t *testing.T) {
	a, kr := newKeyringAgent(t)
	if out := a.run(t, "keyring", "install", newKey).ok(t); out != "installed the key on 3 of 3 members\n" {
		t.Errorf("install: %q", out)
	}
	out := a.run(t, "keyring", "list").ok(t)
	want := "KEY                                           INSTALLED  PRIMARY\n" +
		"MTIzNDU2Nzg5MDEyMzQ1Ng==                      3/3        3/3\n" +
		"YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY=  3/3        0/3\n"
	if out != want {
		t.Errorf("list:\n%s\nwant:\n%s", out, want)
	}
	if out := a.run(t, "keyring", "use", newKey).ok(t); out != "now using the key on 3 of 3 members\n" {
		t.Errorf("use: %q", out)
	}
	a.run(t, "keyring", "remove", newKey).fails(t, "removing the primary key is refused")
	a.run(t, "keyring", "remove", oldKey).ok(t)
	if got := kr.Keys(); len(got) != 1 || got[0] != newKey {
		t.Errorf("keys after rotation: %v", got)
	}
	a.run(t, "keyring", "install", "not-a-key").fails(t, "not base64")
	a.run(t, "keyring", "install").fails(t, "missing argument")
	var r client.KeyringResponse
	if err := json.Unmarshal([]byte(a.run(t, "keyring", "list", "-json").ok(t)), &r); err != nil || r.Members != 3 || len(r.Keys) != 1 {
		t.Errorf("list -json: %+v %v", r, err)
	}
}

func TestKeyringPartialFailure(t *testing.T) {
	a, kr := newKeyringAgent(t)
	kr.Unanswering = []string{"n3"}
	res := a.run(t, "keyring", "install", newKey)
	res.fails(t, "install acknowledged by 2 of 3 members; failed: n3: no answer within 5s")
	res = a.run(t, "keyring", "install", newKey, "-json")
	if res.code != 1 || !strings.Contains(res.stdout, `"n3": "no answer within 5s"`) {
		t.Errorf("-json on failure: exit %d %q", res.code, res.stdout)
	}
}

func TestHTTPSFlagsAndEnv(t *testing.T) {
	files := testutil.NewTLSFiles(t)
	b := httpapitest.New()
	srv := httptest.NewUnstartedServer(httpapi.New(httpapi.Options{Membership: b, KV: b, Services: b}))
	cert, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := client.TLSConfig(files.CACert, "", "")
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool.RootCAs, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	a := &agent{b: b, addr: "https://" + srv.Listener.Addr().String()}

	a.run(t, "members", "-ca-file", files.CACert, "-client-cert", files.ClientCert, "-client-key", files.ClientKey).ok(t)
	a.runWith(t, inv{env: map[string]string{envCAFile: files.CACert, envClientCert: files.ClientCert, envClientKey: files.ClientKey}}, "members").ok(t)
	// Without the CA the certificate is not trusted.
	a.run(t, "members").fails(t, "certificate signed by unknown authority")
	// Without a client certificate the agent refuses the handshake.
	a.run(t, "members", "-ca-file", files.CACert).fails(t, "cannot reach agent")
	a.run(t, "members", "-ca-file", files.OtherCA, "-client-cert", files.ClientCert, "-client-key", files.ClientKey).fails(t, "unknown authority")
	a.run(t, "members", "-ca-file", "/nonexistent.pem").fails(t, "CA file")
	a.run(t, "members", "-ca-file", files.CACert, "-client-cert", files.ClientCert).fails(t, "both")
}
