package testutil

import (
	"testing"

	"github.com/murmurhq/murmur/internal/testcerts"
)

// TLSFiles are throwaway PEM files: a CA, a server certificate and a
// client certificate it signed, and another CA (internal/testcerts).
type TLSFiles = testcerts.Files

// NewTLSFiles writes fresh certificates into a temporary directory; the
// server certificate is for 127.0.0.1, ::1, localhost and names.
func NewTLSFiles(t testing.TB, names ...string) *TLSFiles {
	t.Helper()
	f, err := testcerts.Write(t.TempDir(), names...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
