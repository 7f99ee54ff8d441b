package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/murmurhq/murmur/membership"
)

// Fuzz targets of the agent's decoders of network and disk bytes (the
// configsync wire, the DNS handler, node meta, coordinates and intents
// (membership) and service records (catalog) have theirs in their
// packages).
// .ci/run runs each for a few seconds; their seeds run as unit tests.
//
//	go test -run '^$' -fuzz FuzzGossipMessage -fuzztime 30s ./agent/

// FuzzGossipMessage feeds a user message and push/pull state to the
// delegate of an agent that has not started (no memberlist, no store):
// the routing by type byte, leave intents and keyring messages must
// neither panic nor act on garbage.
func FuzzGossipMessage(f *testing.F) {
	f.Add(append([]byte{byte(msgAgent)}, membership.Intent{Kind: membership.IntentLeave, LTime: 3, Node: "n1"}.Encode()...), []byte{byte(msgAgent), 1, 7})
	for _, m := range sampleKeyringMessages() {
		f.Add(append([]byte{byte(msgKeyring)}, m...), []byte{byte(msgKeyring), 3, 1, 2, 3})
	}
	f.Add([]byte{byte(MsgConfigSync), 1, 1}, []byte{byte(MsgConfigSync), 200})
	f.Add(append([]byte{byte(msgQuery)}, queryFrame{typ: queryRequest, kind: queryKeyVersion, id: 1, node: "n2", payload: []byte("k")}.encode()...), []byte{})
	f.Add(append([]byte{byte(msgQuery)}, queryFrame{typ: queryAnswer, kind: queryKeyVersion, id: 1, node: "n2", payload: keyVersion{}.encode()}.encode()...), []byte{})
	f.Add([]byte{}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	a, err := New(testConfig("fuzz"), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.Shutdown() })
	f.Fuzz(func(t *testing.T, msg, state []byte) {
		a.del.NotifyMsg(msg)
		a.del.MergeRemoteState(state, len(state)%2 == 0)
		if a.GossipEncrypted() || len(a.sec.keys.keys()) != 0 {
			t.Fatal("a message changed the keyring of an unencrypted agent")
		}
	})
}

// FuzzKeyringMessage: the keyring wire decoder bounds every field, names
// what is wrong, and what it accepts re-encodes to the same bytes.
func FuzzKeyringMessage(f *testing.F) {
	for _, m := range sampleKeyringMessages() {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeKeyringMsg(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedKeyring) {
				t.Fatalf("error does not wrap ErrMalformedKeyring: %v", err)
			}
			return
		}
		var again []byte
		switch v := m.(type) {
		case *keyringRequest:
			again = v.encode()
		case *keyringAnswer:
			if len(v.keys) > maxKeyringKeys || len(v.msg) > maxKeyringMessage {
				t.Fatalf("accepted %d keys, %d-byte message", len(v.keys), len(v.msg))
			}
			again = v.encode()
		default:
			t.Fatalf("decoded to %T", m)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("not canonical:\n% x\n% x", b, again)
		}
	})
}

// FuzzKeyringFile: a corrupt keyring file is an error, never a panic, and
// an accepted one holds 1 to maxKeyringKeys distinct valid keys.
func FuzzKeyringFile(f *testing.F) {
	f.Add(encodeKeyringFile([][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)}))
	f.Add([]byte(`["MTIzNDU2Nzg5MDEyMzQ1Ng=="]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"keys": 1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := decodeKeyringFile(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedKeyring) {
				t.Fatalf("error does not wrap ErrMalformedKeyring: %v", err)
			}
			return
		}
		if len(keys) == 0 || len(keys) > maxKeyringKeys {
			t.Fatalf("%d keys", len(keys))
		}
		if _, err := newMemberlistKeyring(keys); err != nil {
			t.Fatalf("accepted keys memberlist refuses: %v", err)
		}
	})
}

// FuzzConfig: any TOML is parsed into a config or refused with an error
// wrapping ErrConfig; a parsed one validates without panicking.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"node_name = \"a\"\n[gossip]\nkey = \"MTIzNDU2Nzg5MDEyMzQ1Ng==\"\n",
		"[http]\nallowed_hosts = [\"x\"]\nmax_conns = 3\n[acl]\ndefault = \"deny\"\n[[acl.token]]\nname = \"a\"\nsecret = \"s\"\nrules = [{ kind = \"kv\", prefix = \"a/\", access = \"read\" }]\n",
		"[[service]]\nname = \"web\"\nport = 80\n[service.check]\nttl = \"10s\"\n",
		"[dns]\nrecursors = [\"1.1.1.1:53\"]\nnode_ttl = \"5s\"\n",
		"bind_addr = 7\n",
		"[gossip\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b, DevConfig())
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error does not wrap ErrConfig: %v", err)
			}
			return
		}
		_ = cfg.Validate()
		_ = ValidateWithSource(&cfg, "fuzz.toml", b)
	})
}
