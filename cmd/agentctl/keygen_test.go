package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestKeygen(t *testing.T) {
	a := newAgent(t)
	out := a.run(t, "keygen").ok(t)
	key, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(out, "\n"))
	if err != nil || len(key) != 32 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("keygen printed %q (%d bytes, %v), want base64 of 32 bytes", out, len(key), err)
	}
	// The harness's entropy is 7s: the key is exactly those bytes.
	if !bytes.Equal(key, bytes.Repeat([]byte{7}, 32)) {
		t.Errorf("key %x does not come from the injected source", key)
	}
}

func TestKeygenUsesCryptoRand(t *testing.T) {
	// main wires crypto/rand; two keys from it differ.
	var keys []string
	for range 2 {
		var out, errOut bytes.Buffer
		e := env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }, rand: rand.Reader}
		if code := run(context.Background(), []string{"keygen"}, e); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		keys = append(keys, out.String())
	}
	if keys[0] == keys[1] {
		t.Errorf("two keys are equal: %q", keys[0])
	}
}

func TestKeygenRandomFails(t *testing.T) {
	var out, errOut bytes.Buffer
	e := env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" },
		rand: iotest.ErrReader(errors.New("entropy pool empty"))}
	if code := run(context.Background(), []string{"keygen"}, e); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if errOut.String() != "agentctl: reading random bytes: entropy pool empty\n" || out.Len() != 0 {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}
