package logthrottle

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Remote rate-limits the log lines that remote bytes cause, per component
// and source address, counts them, and logs the summaries of what it held
// back (Run). Safe for concurrent use.
type Remote struct {
	lim *Limiter
	log *slog.Logger

	mu sync.Mutex
	// seen counts lines naming a remote source, per component; guarded
	// by mu.
	seen map[string]uint64
}

// NewRemote returns a Remote with the default limits that logs to l.
func NewRemote(l *slog.Logger) *Remote {
	return &Remote{lim: New(0, 0, 0), log: l, seen: map[string]uint64{}}
}

// Allow reports whether a line of component caused by source ("" when
// unknown) may be logged, and how many were held back before it.
func (r *Remote) Allow(component, source, line string) (bool, uint64) {
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

// allowLine is Allow with the source read from the line itself.
func (r *Remote) allowLine(component, line string) (bool, uint64) {
	src, _ := Source(line)
	return r.Allow(component, src, line)
}

// Log logs at warn, rate-limited per source, a problem of component
// caused by bytes from the network; source is the sender's address or
// node ("" when unknown).
func (r *Remote) Log(component, source, msg string, args ...any) {
	ok, held := r.Allow(component, source, msg)
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "suppressed_before", held)
	}
	r.log.Warn(msg, append([]any{"part", component, "source", source}, args...)...)
}

// Counts returns the remote-caused lines seen per component.
func (r *Remote) Counts() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.seen))
	for k, v := range r.seen {
		out[k] = v
	}
	return out
}

// Held is the number of lines held back so far.
func (r *Remote) Held() uint64 {
	_, held := r.lim.Stats()
	return held
}

// Flush logs one summary line per source whose lines were held back.
func (r *Remote) Flush(now time.Time) {
	for _, s := range r.lim.Flush(now) {
		component, source, _ := strings.Cut(s.Source, " ")
		r.log.Warn("suppressed repeated log lines from one source", "component", component, "source", source,
			"lines", s.Held, "since", s.Since.Format(time.RFC3339))
	}
}

// Run flushes every 10 s until ctx ends.
func (r *Remote) Run(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.Flush(now)
		}
	}
}

// Writer returns a *log.Logger (net/http's ErrorLog) whose lines are
// rate-limited per source and logged to l at warn.
func (r *Remote) Writer(l *slog.Logger, component string) *log.Logger {
	return log.New(&throttledWriter{r: r, l: l.With("component", component), component: component}, "", 0)
}

type throttledWriter struct {
	r         *Remote
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

// LevelLogger adapts a *log.Logger whose lines start with a bracketed
// level ("[WARN] memberlist: ...", memberlist's and Serf's style) to l
// with the component attribute, mapping the tag to a slog level and
// trimming "component: " from the text. Nothing reads the text: it is for
// people. Warnings and errors go through remote (when not nil), which
// holds back the floods a hostile sender causes ("Decrypt packet failed
// ... from=ADDR").
func LevelLogger(l *slog.Logger, component string, remote *Remote) *log.Logger {
	return log.New(&levelWriter{l: l.With("component", component), component: component, remote: remote}, "", 0)
}

type levelWriter struct {
	l         *slog.Logger
	component string
	remote    *Remote
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

func (w *levelWriter) Write(p []byte) (int, error) {
	msg := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, t := range levelTags {
		if bytes.HasPrefix(msg, t.tag) {
			level = t.level
			msg = bytes.TrimSpace(msg[len(t.tag):])
			break
		}
	}
	msg = bytes.TrimPrefix(msg, []byte(w.component+": "))
	if !w.l.Enabled(context.Background(), level) {
		return len(p), nil
	}
	var attrs []any
	if w.remote != nil && level >= slog.LevelWarn {
		ok, held := w.remote.allowLine(w.component, string(msg))
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
