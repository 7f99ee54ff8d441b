package test

import (
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/murmurhq/murmur/internal/testutil"
)

func itoa(i int) string { return strconv.Itoa(i) }

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

var lookPath = exec.LookPath

// syncBuffer is testutil.SyncBuffer.
type syncBuffer = testutil.SyncBuffer
