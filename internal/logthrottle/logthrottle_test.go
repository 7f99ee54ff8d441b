package logthrottle

import (
	"fmt"
	"testing"
	"time"
)

func TestBurstThenRate(t *testing.T) {
	l := New(3, time.Second, 0)
	t0 := time.Unix(1000, 0)
	passed := 0
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * 10 * time.Millisecond) // 10 s of 100 lines/s
		if ok, _ := l.Allow("10.0.0.1", now); ok {
			passed++
		}
	}
	// 3 at once, then about one per second for 10 s.
	if passed < 12 || passed > 14 {
		t.Fatalf("%d lines passed, want about 13", passed)
	}
	// Another source is not affected.
	if ok, _ := l.Allow("10.0.0.2", t0.Add(10*time.Second)); !ok {
		t.Fatal("a quiet source was held back")
	}
	sums := l.Flush(t0.Add(10 * time.Second))
	if len(sums) != 1 || sums[0].Source != "10.0.0.1" || sums[0].Held == 0 {
		t.Fatalf("summaries %+v", sums)
	}
	offered, held := l.Stats()
	if offered != 1001 || held != uint64(1000-passed) {
		t.Fatalf("stats %d %d", offered, held)
	}
	if sums := l.Flush(t0.Add(11 * time.Second)); len(sums) != 0 {
		t.Fatalf("second flush %+v", sums)
	}
	// Quiet sources are forgotten.
	l.Flush(t0.Add(time.Hour))
	if n := len(l.sources); n != 0 {
		t.Fatalf("%d sources remembered after an hour", n)
	}
}

func TestHeldCountReportedWithNextLine(t *testing.T) {
	l := New(1, time.Second, 0)
	t0 := time.Unix(0, 0)
	l.Allow("a", t0)
	for range 5 {
		if ok, _ := l.Allow("a", t0); ok {
			t.Fatal("passed without a token")
		}
	}
	ok, held := l.Allow("a", t0.Add(time.Second))
	if !ok || held != 5 {
		t.Fatalf("ok %v held %d", ok, held)
	}
}

func TestSourcesAreBounded(t *testing.T) {
	l := New(1, time.Minute, 10)
	t0 := time.Unix(0, 0)
	for i := range 10000 {
		l.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256), t0)
	}
	if n := len(l.sources); n > 11 {
		t.Fatalf("%d sources tracked, limit 10 (+ overflow)", n)
	}
}

func TestSource(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"Decrypt packet failed: no installed keys could decrypt the message from=127.0.0.1:54321", "127.0.0.1"},
		{"failed to receive: EOF from=[::1]:7946", "::1"},
		{"http: TLS handshake error from 10.1.2.3:5555: remote error: tls: bad certificate", "10.1.2.3"},
		{"Got invalid checksum for UDP packet: 1, 2", ""},
		{"from=<unknown address>", ""},
	} {
		got, ok := Source(tc.line)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Source(%q) = %q %v, want %q", tc.line, got, ok, tc.want)
		}
	}
}
