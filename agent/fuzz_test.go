package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/murmurhq/murmur/membership"
)

// Fuzz targets of the agent's decoders of network and disk bytes (the
// configsync wire, the DNS handler, node meta, coordinates and intents
// (membership), service records (catalog), query frames (query), keyring
// messages and files (keyring) and key versions (insight) have theirs in
// their packages).
// .ci/run runs each for a few seconds; their seeds run as unit tests.
//
//	go test -run '^$' -fuzz FuzzGossipMessage -fuzztime 30s ./agent/

// FuzzGossipMessage feeds a user message and push/pull state to the
// delegate of an agent that has not started (no memberlist, no store):
// the routing by type byte, leave intents and keyring messages must
// neither panic nor act on garbage.
func FuzzGossipMessage(f *testing.F) {
	f.Add(append([]byte{byte(msgAgent)}, membership.Intent{Kind: membership.IntentLeave, LTime: 3, Node: "n1"}.Encode()...), []byte{byte(msgAgent), 1, 7})
	f.Add(append([]byte{byte(msgQuery)}, keyringRequest(time.Now(), "n2", 'I', bytes.Repeat([]byte{1}, 16))...), []byte{byte(msgQuery), 3, 1, 2, 3})
	f.Add([]byte{byte(MsgConfigSync), 1, 1}, []byte{byte(MsgConfigSync), 200})
	f.Add([]byte{byte(msgQuery), 'Q', 'V', 0, 0, 0, 0, 0, 0, 0, 1, 2, 'n', '2', 'k'}, []byte{})
	f.Add([]byte{byte(msgQuery), 'A', 'V', 0, 0, 0, 0, 0, 0, 0, 1, 2, 'n', '2', 0, 0, 0, 0}, []byte{})
	f.Add([]byte{}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	a, err := New(testConfig("fuzz"), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { a.Shutdown() })
	f.Fuzz(func(t *testing.T, msg, state []byte) {
		a.del.NotifyMsg(msg)
		a.del.MergeRemoteState(state, len(state)%2 == 0)
		if a.GossipEncrypted() || len(a.sec.keys.Keys()) != 0 {
			t.Fatal("a message changed the keyring of an unencrypted agent")
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

// keyringRequest is a stamped query frame (package query's wire) asking
// for keyring operation op with key, as member from would send it.
func keyringRequest(sent time.Time, from string, op byte, key []byte) []byte {
	b := []byte{'S', 'K'}
	b = binary.BigEndian.AppendUint64(b, 1)
	b = binary.BigEndian.AppendUint64(b, uint64(sent.UnixMilli()))
	b = append(append(binary.AppendUvarint(b, uint64(len(from))), from...), op, byte(len(key)))
	return append(b, key...)
}
