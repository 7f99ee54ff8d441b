package agent

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"testing"
	"time"

	"github.com/murmurhq/murmur/membership"
)

// Fuzz targets of the agent's decoders of network and disk bytes (the
// configsync wire, the DNS handler, node meta, coordinates and intents
// (membership), service records (catalog), query frames (query), keyring
// messages and files (keyring), key versions (insight) and the TOML
// config (config) have theirs in their packages).
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

// keyringRequest is a stamped query frame (package query's wire) asking
// for keyring operation op with key, as member from would send it.
func keyringRequest(sent time.Time, from string, op byte, key []byte) []byte {
	b := []byte{'S', 'K'}
	b = binary.BigEndian.AppendUint64(b, 1)
	b = binary.BigEndian.AppendUint64(b, uint64(sent.UnixMilli()))
	b = append(append(binary.AppendUvarint(b, uint64(len(from))), from...), op, byte(len(key)))
	return append(b, key...)
}
