package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Source yields the state a watch covers.
type Source interface {
	// Next blocks until the state may have changed since the previous
	// call (the first call returns at once) and returns it; the value is
	// encoded with encoding/json for the handler. It returns ctx's error
	// when ctx ends, and any other error when the source is gone for
	// good.
	Next(ctx context.Context) (any, error)
}

// Stats counts a watch's handler runs.
type Stats struct {
	Name string
	Type string
	// Runs counts handler runs that ended, whatever the outcome.
	Runs uint64
	// Failures counts runs that failed (non-zero exit, timeout, could
	// not start); Timeouts the failures that were timeouts.
	Failures uint64
	Timeouts uint64
	// Seconds is the total time handlers ran.
	Seconds float64
}

type counters struct {
	runs, failures, timeouts atomic.Uint64
	nanos                    atomic.Int64
}

// Watch runs one definition's handler over a Source. Create it with
// NewWatch and call Run once.
type Watch struct {
	def Definition
	src Source
	log *slog.Logger
	c   counters

	mu sync.Mutex
	// latest is the newest encoded state; guarded by mu.
	latest []byte
	// changed receives after latest changes; buffer 1, never blocks.
	changed chan struct{}
}

// NewWatch returns a watch of def (Validate it first; defaults are filled
// in) reading src. logger nil discards.
func NewWatch(def Definition, src Source, logger *slog.Logger) *Watch {
	def = def.WithDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Watch{
		def: def, src: src, changed: make(chan struct{}, 1),
		log: logger.With("component", "watch", "watch", def.Name),
	}
}

// Definition is the watch's definition with defaults filled in.
func (w *Watch) Definition() Definition { return w.def }

// Stats returns the watch's counters.
func (w *Watch) Stats() Stats {
	return Stats{
		Name: w.def.Name, Type: w.def.Type,
		Runs: w.c.runs.Load(), Failures: w.c.failures.Load(), Timeouts: w.c.timeouts.Load(),
		Seconds: time.Duration(w.c.nanos.Load()).Seconds(),
	}
}

// Run reads the source and runs the handler until ctx ends (nil) or the
// source fails (its error). A handler still running when ctx ends is
// killed.
func (w *Watch) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- w.read(ctx)
		cancel()
	}()
	w.runLoop(ctx)
	err := <-errc
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// read keeps latest up to date. It never waits for the handler.
func (w *Watch) read(ctx context.Context) error {
	for {
		v, err := w.src.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watch %s: %w", w.def.Name, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("watch %s: encoding the state: %w", w.def.Name, err)
		}
		w.mu.Lock()
		same := w.latest != nil && bytes.Equal(b, w.latest)
		w.latest = b
		w.mu.Unlock()
		if !same {
			select {
			case w.changed <- struct{}{}:
			default:
			}
		}
	}
}

// runLoop waits for changes, debounces them and runs the handler, one run
// at a time, until ctx ends.
func (w *Watch) runLoop(ctx context.Context) {
	var ran []byte // the state the handler last got; nil before the first run
	debounce, maxDelay := w.def.Debounce.D(), w.def.maxDelay()
	for {
		select {
		case <-w.changed:
		case <-ctx.Done():
			return
		}
		if ran != nil { // the first run is not delayed
			first := time.Now()
			t := time.NewTimer(debounce)
		quiet:
			for {
				select {
				case <-w.changed:
					rest := maxDelay - time.Since(first)
					if rest <= 0 {
						break quiet
					}
					t.Reset(min(debounce, rest))
				case <-t.C:
					break quiet
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
			t.Stop()
		}
		w.mu.Lock()
		state := w.latest
		w.mu.Unlock()
		if ran != nil && bytes.Equal(state, ran) {
			continue // changed and changed back within the burst
		}
		ran = state
		w.runHandler(ctx, state)
	}
}

func (w *Watch) runHandler(ctx context.Context, state []byte) {
	env := []string{"MURMUR_WATCH=" + w.def.Name, "MURMUR_WATCH_TYPE=" + w.def.Type}
	start := time.Now()
	out, err := run(ctx, w.def.Handler, append(state, '\n'), env, w.def.Timeout.D())
	took := time.Since(start)
	w.c.nanos.Add(int64(took))
	w.c.runs.Add(1)
	if err == nil {
		w.log.Debug("handler ran", "took", took, "output", string(out))
		return
	}
	if ctx.Err() != nil {
		return // shutting down: the kill is ours, not the handler's fault
	}
	w.c.failures.Add(1)
	if errors.Is(err, ErrTimeout) {
		w.c.timeouts.Add(1)
	}
	w.log.Warn("handler failed", "err", err, "took", took, "output", string(out))
}
