package logthrottle

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A flood of warnings from one source passes DefaultBurst lines, is
// counted, and ends in one summary; other levels map from their tags.
func TestRemoteLevelLogger(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := NewRemote(l)
	ml := LevelLogger(l, "memberlist", r)
	for range 20 {
		ml.Printf("[WARN] memberlist: Decrypt packet failed: bad key from=10.0.0.1:7946")
	}
	ml.Printf("[DEBUG] memberlist: probing")
	if got := strings.Count(buf.String(), "Decrypt packet failed"); got != DefaultBurst {
		t.Fatalf("%d flood lines logged, want %d:\n%s", got, DefaultBurst, buf.String())
	}
	if !strings.Contains(buf.String(), "level=DEBUG msg=probing component=memberlist") {
		t.Fatalf("debug line not mapped:\n%s", buf.String())
	}
	if r.Counts()["memberlist"] != 20 || r.Held() != 20-DefaultBurst {
		t.Fatalf("counts %v, held %d", r.Counts(), r.Held())
	}
	buf.Reset()
	r.Flush(time.Now().Add(time.Hour))
	if !strings.Contains(buf.String(), "suppressed repeated log lines") || !strings.Contains(buf.String(), "source=10.0.0.1") {
		t.Fatalf("no summary:\n%s", buf.String())
	}
}
