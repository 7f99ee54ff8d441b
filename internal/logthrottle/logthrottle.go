// Package logthrottle keeps hostile traffic from flooding the logs: errors
// caused by remote bytes (garbage packets, failed TLS handshakes) are
// rate-limited per source, and what was held back is counted and reported
// as one summary line per source.
//
// A Limiter is a token bucket per source: Burst lines pass at once, then
// one per Every. The caller logs a line only when Allow says so, and calls
// Flush on a timer to log the summaries of sources that went quiet. It
// takes the time as an argument and starts no goroutine. Safe for
// concurrent use.
package logthrottle

import (
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of New's zero arguments.
const (
	DefaultBurst      = 5
	DefaultEvery      = 10 * time.Second
	DefaultMaxSources = 1024
	// Overflow is the source that stands for every source beyond
	// MaxSources.
	Overflow = "(other sources)"
)

// Limiter rate-limits log lines per source.
type Limiter struct {
	burst      float64
	every      time.Duration
	maxSources int

	offered atomic.Uint64
	held    atomic.Uint64

	mu sync.Mutex
	// sources is guarded by mu.
	sources map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time // last refill
	// held lines since the last one logged or summarised, and when the
	// first of them came.
	held      uint64
	heldSince time.Time
}

// New returns a Limiter letting burst lines per source through at once and
// then one per every, tracking at most maxSources sources (zero values
// take the defaults).
func New(burst int, every time.Duration, maxSources int) *Limiter {
	if burst <= 0 {
		burst = DefaultBurst
	}
	if every <= 0 {
		every = DefaultEvery
	}
	if maxSources <= 0 {
		maxSources = DefaultMaxSources
	}
	return &Limiter{burst: float64(burst), every: every, maxSources: maxSources, sources: map[string]*bucket{}}
}

// Allow reports whether a line from source may be logged at now. When it
// may, held is how many lines from source were held back before it (log it
// with the line).
func (l *Limiter) Allow(source string, now time.Time) (ok bool, held uint64) {
	l.offered.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.sources[source]
	if b == nil {
		if len(l.sources) >= l.maxSources {
			source = Overflow
			b = l.sources[source]
		}
		if b == nil {
			b = &bucket{tokens: l.burst, last: now}
			l.sources[source] = b
		}
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.last = now
	}
	if b.tokens < 1 {
		if b.held == 0 {
			b.heldSince = now
		}
		b.held++
		l.held.Add(1)
		return false, 0
	}
	b.tokens--
	held, b.held = b.held, 0
	return true, held
}

// Summary is what was held back from one source.
type Summary struct {
	Source string
	// Held lines since Since.
	Held  uint64
	Since time.Time
}

// Flush returns, sorted by source, the sources with lines held back,
// resetting their counts, and forgets sources whose bucket is full again
// (quiet for Burst×Every).
func (l *Limiter) Flush(now time.Time) []Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Summary
	for src, b := range l.sources {
		if b.held > 0 {
			out = append(out, Summary{Source: src, Held: b.held, Since: b.heldSince})
			b.held = 0
			continue
		}
		if now.Sub(b.last) >= time.Duration(l.burst)*l.every {
			delete(l.sources, src)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

// Stats returns how many lines were offered and how many held back, ever.
func (l *Limiter) Stats() (offered, held uint64) { return l.offered.Load(), l.held.Load() }

// Source returns the remote host a log line names, in the forms
// memberlist ("from=10.0.0.1:7946") and net/http ("from 10.0.0.1:5555:")
// write; ok is false when the line names none.
func Source(line string) (host string, ok bool) {
	for _, mark := range []string{"from=", "from "} {
		i := strings.LastIndex(line, mark)
		if i < 0 {
			continue
		}
		rest := line[i+len(mark):]
		if j := strings.IndexAny(rest, " \t"); j >= 0 {
			rest = rest[:j]
		}
		rest = strings.TrimSuffix(rest, ":")
		if ap, err := netip.ParseAddrPort(rest); err == nil {
			return ap.Addr().Unmap().String(), true
		}
		if a, err := netip.ParseAddr(rest); err == nil {
			return a.Unmap().String(), true
		}
	}
	return "", false
}
