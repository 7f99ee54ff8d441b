package insight

import (
	"testing"
	"time"

	"github.com/murmurhq/murmur/configsync"
)

// The cluster-wide behaviour (every agent answers, an isolated one is
// named) is tested through the agent: agent/insight_test.go.

func FuzzKeyVersion(f *testing.F) {
	f.Add(keyVersion{has: true, version: configsync.Version{Wall: 1700000000000, Logical: 3, Node: "n1"}, applied: time.UnixMilli(1700000000005)}.encode())
	f.Add(keyVersion{}.encode())
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodeKeyVersion(b)
		if err != nil {
			return
		}
		if k.version.Wall < 0 || len(k.version.Node) > 128 {
			t.Fatalf("accepted %+v", k)
		}
		again, err := decodeKeyVersion(k.encode())
		if err != nil || again.version != k.version || !again.applied.Equal(k.applied) || again.has != k.has || again.deleted != k.deleted {
			t.Fatalf("round trip: %+v %v, was %+v", again, err, k)
		}
	})
}

func TestParseVersion(t *testing.T) {
	for _, s := range []string{"x.y", "1", "-1.0", "1.99999999999"} {
		if _, err := parseVersion(s, ""); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if v, err := parseVersion("1700000000000.3", "n1"); err != nil || v.Wall != 1700000000000 || v.Logical != 3 || v.Node != "n1" {
		t.Fatalf("%+v %v", v, err)
	}
}
