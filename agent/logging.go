package agent

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/murmurhq/murmur/internal/logthrottle"
)

// memberlistLogger adapts memberlist's *log.Logger ("[WARN] memberlist:
// ...") to slog, mapping its bracketed level to a slog level. Nothing
// reads the text: it is for people. Warnings and errors go through remote
// (when set), which holds back the floods a hostile sender causes
// ("Decrypt packet failed ... from=ADDR").
func memberlistLogger(l *slog.Logger, remote *remoteLog) *log.Logger {
	return log.New(&slogWriter{l: l.With("component", "memberlist"), remote: remote}, "", 0)
}

type slogWriter struct {
	l      *slog.Logger
	remote *remoteLog
}

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
	if !w.l.Enabled(context.Background(), level) {
		return len(p), nil
	}
	var attrs []any
	if w.remote != nil && level >= slog.LevelWarn {
		ok, held := w.remote.allowLine("memberlist", string(msg))
		if !ok {
			return len(p), nil
		}
		if held > 0 {
			attrs = append(attrs, "suppressed_before", held)
		}
	}
	w.l.Log(context.Background(), level, string(msg), attrs...)
	return len(p), nil
}

// remoteLog rate-limits the log lines that remote bytes cause, per
// component and source address (internal/logthrottle), and counts them.
// Safe for concurrent use.
type remoteLog struct {
	lim *logthrottle.Limiter

	mu sync.Mutex
	// seen counts lines naming a remote source, per component; guarded
	// by mu.
	seen map[string]uint64
}

func newRemoteLog() *remoteLog {
	return &remoteLog{lim: logthrottle.New(0, 0, 0), seen: map[string]uint64{}}
}

// allow reports whether a line of component caused by source ("" when
// unknown) may be logged, and how many were held back before it.
func (r *remoteLog) allow(component, source, line string) (bool, uint64) {
	key := component + " " + source
	if source == "" {
		// No address: limit per kind of message (its text before the
		// first colon, at most 48 bytes).
		kind, _, _ := strings.Cut(line, ":")
		key = component + " (" + kind[:min(len(kind), 48)] + ")"
	} else {
		r.mu.Lock()
		r.seen[component]++
		r.mu.Unlock()
	}
	return r.lim.Allow(key, time.Now())
}

// allowLine is allow with the source read from the line itself.
func (r *remoteLog) allowLine(component, line string) (bool, uint64) {
	src, _ := logthrottle.Source(line)
	return r.allow(component, src, line)
}

// counts returns the remote-caused lines seen per component.
func (r *remoteLog) counts() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.seen))
	for k, v := range r.seen {
		out[k] = v
	}
	return out
}

// flush logs one summary line per source whose lines were held back.
func (r *remoteLog) flush(l *slog.Logger, now time.Time) {
	for _, s := range r.lim.Flush(now) {
		component, source, _ := strings.Cut(s.Source, " ")
		l.Warn("suppressed repeated log lines from one source", "component", component, "source", source,
			"lines", s.Held, "since", s.Since.Format(time.RFC3339))
	}
}

// writer returns an io.Writer for a *log.Logger (net/http's ErrorLog)
// whose lines are rate-limited per source and logged at warn.
func (r *remoteLog) writer(l *slog.Logger, component string) *log.Logger {
	return log.New(&throttledWriter{r: r, l: l.With("component", component), component: component}, "", 0)
}

type throttledWriter struct {
	r         *remoteLog
	l         *slog.Logger
	component string
}

func (w *throttledWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	ok, held := w.r.allowLine(w.component, msg)
	if ok {
		if held > 0 {
			w.l.Warn(msg, "suppressed_before", held)
		} else {
			w.l.Warn(msg)
		}
	}
	return len(p), nil
}
