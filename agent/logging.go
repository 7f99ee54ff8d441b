package agent

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// memberlistLogger adapts memberlist's *log.Logger ("[WARN] memberlist:
// ...") to slog, mapping its bracketed level to a slog level. Nothing
// reads the text: it is for people.
func memberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(&slogWriter{l: l.With("component", "memberlist")}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

var levelTags = []struct {
	tag   []byte
	level slog.Level
}{
	{[]byte("[DEBUG]"), slog.LevelDebug},
	{[]byte("[INFO]"), slog.LevelInfo},
	{[]byte("[WARN]"), slog.LevelWarn},
	{[]byte("[ERR]"), slog.LevelError},
	{[]byte("[ERROR]"), slog.LevelError},
}

func (w *slogWriter) Write(p []byte) (int, error) {
	msg := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, t := range levelTags {
		if bytes.HasPrefix(msg, t.tag) {
			level = t.level
			msg = bytes.TrimSpace(msg[len(t.tag):])
			break
		}
	}
	msg = bytes.TrimPrefix(msg, []byte("memberlist: "))
	if w.l.Enabled(context.Background(), level) {
		w.l.Log(context.Background(), level, string(msg))
	}
	return len(p), nil
}
