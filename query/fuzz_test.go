package query

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
)

// FuzzFrame: any bytes are a frame or an error wrapping ErrMalformed;
// what decodes re-encodes to the same bytes and stays in its bounds.
//
//	go test -run '^$' -fuzz FuzzFrame -fuzztime 30s ./query/
func FuzzFrame(f *testing.F) {
	f.Add(frame{typ: typeRequest, kind: 'V', id: 7, node: "n1", payload: []byte("app/mode")}.encode())
	f.Add(frame{typ: typeAnswer, kind: 'V', id: 1, node: "n2", payload: []byte{1, 2}}.encode())
	f.Add(frame{typ: typeStamped, kind: 'K', id: 3, sentMs: 1700000000000, node: "n3", payload: []byte{'I', 16}}.encode())
	f.Add(frame{typ: typeError, kind: 'K', id: 3, node: "n3", payload: []byte("keyring: no")}.encode())
	f.Add([]byte{})
	f.Add([]byte("Q"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(fr.node) == 0 || len(fr.node) > MaxNodeName || fr.typ == typeError && len(fr.payload) > MaxErrorText {
			t.Fatalf("accepted %+v", fr)
		}
		if again := fr.encode(); !bytes.Equal(again, b) {
			t.Fatalf("not canonical:\n% x\n% x", b, again)
		}
	})
}

// FuzzHandleMessage: a running kind with a window takes any frame without
// panicking, and answers nothing it should not.
func FuzzHandleMessage(f *testing.F) {
	f.Add(frame{typ: typeStamped, kind: 'e', id: 3, sentMs: 1700000000000, node: "b", payload: []byte("x")}.encode())
	f.Add(frame{typ: typeAnswer, kind: 'e', id: 3, node: "b"}.encode())
	n := &fakeNet{nodes: map[string]*Queries{}}
	q := New(Config{Node: "a", Cluster: fakeMember{n, "a"}, Logger: slog.New(slog.DiscardHandler)})
	q.Handle(kindEcho, echo("a"), Options{Window: 1, Queue: 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		q.HandleMessage(b)
		select {
		case fr := <-q.kinds[kindEcho].work:
			if fr.typ != typeStamped || fr.node == "a" {
				t.Fatalf("queued %+v", fr)
			}
		default:
		}
	})
}
