package keyring

import (
	"bytes"
	"errors"
	"testing"
)

// Fuzz targets of the keyring's decoders; .ci/run fuzzes each briefly.
//
//	go test -run '^$' -fuzz FuzzMessage -fuzztime 30s ./keyring/

// FuzzMessage: the request and answer decoders bound every field, name
// what is wrong, and what they accept re-encodes to the same bytes.
func FuzzMessage(f *testing.F) {
	reqs, answers := sampleMessages()
	for _, m := range append(reqs, answers...) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if op, key, err := decodeRequest(b); err == nil {
			if again := encodeRequest(op, key); !bytes.Equal(again, b) {
				t.Fatalf("request not canonical:\n% x\n% x", b, again)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error does not wrap ErrMalformed: %v", err)
		}
		if keys, err := decodeAnswer(b); err == nil {
			if len(keys) > MaxKeys {
				t.Fatalf("accepted %d keys", len(keys))
			}
			if again := encodeAnswer(keys); !bytes.Equal(again, b) {
				t.Fatalf("answer not canonical:\n% x\n% x", b, again)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error does not wrap ErrMalformed: %v", err)
		}
	})
}

// FuzzFile: a corrupt keyring file is an error, never a panic, and an
// accepted one holds 1 to MaxKeys distinct valid keys.
func FuzzFile(f *testing.F) {
	f.Add(EncodeFile([][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)}))
	f.Add([]byte(`["MTIzNDU2Nzg5MDEyMzQ1Ng=="]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"keys": 1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := DecodeFile(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(keys) == 0 || len(keys) > MaxKeys {
			t.Fatalf("%d keys", len(keys))
		}
		if _, err := newRing(keys); err != nil {
			t.Fatalf("accepted keys memberlist refuses: %v", err)
		}
	})
}
