package membership

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestOffsetsEstimate(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	o := NewOffsets(func() time.Time { return now })
	if _, _, ok := o.Self(); ok {
		t.Fatal("an estimate with no samples")
	}
	// Two peers: the one nearer our clock decides.
	o.Observe("p", now.Add(-5*time.Millisecond).UnixMilli(), 10*time.Millisecond)
	o.Observe("q", now.Add(2*time.Hour).UnixMilli(), 0)
	if off, n, ok := o.Self(); !ok || off != 0 || n != 2 {
		t.Fatalf("self offset %v, %v; want 0 (p is 5ms behind at 10ms rtt)", off, ok)
	}
	if off, _ := o.Peer("q"); off != 2*time.Hour {
		t.Fatalf("q offset %v", off)
	}
	o.Observe("r", now.Add(2*time.Hour).UnixMilli(), 0)
	if off, _, _ := o.Self(); off != -2*time.Hour {
		t.Fatalf("self offset %v with two of three peers 2h ahead; want -2h", off)
	}
	o.Forget("q")
	o.Forget("r")
	now = now.Add(OffsetFresh)
	if _, _, ok := o.Self(); ok {
		t.Fatal("a stale estimate still counts")
	}
}

func TestClockWire(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	name, ms, err := DecodeWallClock(EncodeWallClock("n1", now))
	if err != nil || name != "n1" || ms != now.UnixMilli() {
		t.Fatalf("wall clock round trip: %q %d %v", name, ms, err)
	}
	for _, b := range [][]byte{nil, {0}, EncodeWallClock("n1", now)[:5], EncodeWallClock("n1", time.UnixMilli(0))} {
		if _, _, err := DecodeWallClock(b); !errors.Is(err, ErrMalformedClock) {
			t.Errorf("% x: %v, want ErrMalformedClock", b, err)
		}
	}
	coord := NewCoords().Payload()
	got, ms := SplitAckClock(AppendAckClock(bytes.Clone(coord), now))
	if !bytes.Equal(got, coord) || ms != now.UnixMilli() {
		t.Fatalf("ack clock round trip: %d", ms)
	}
	if got, ms := SplitAckClock(coord); !bytes.Equal(got, coord) || ms != 0 {
		t.Fatal("an ack without a clock lost its coordinate")
	}
}

// FuzzAckClock: any ack payload (coordinate and clock) is either used or
// ignored, never a panic.
func FuzzAckClock(f *testing.F) {
	f.Add(AppendAckClock(NewCoords().Payload(), time.Now()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, o := NewCoords(), NewOffsets(time.Now)
		coord, ms := SplitAckClock(b)
		o.Observe("peer", ms, time.Millisecond)
		c.Observe("peer", time.Millisecond, coord)
		o.Self()
	})
}

// FuzzWallClock: a push/pull clock sample decodes to a name and a positive
// time that re-encode to the same bytes, or is refused.
func FuzzWallClock(f *testing.F) {
	f.Add(EncodeWallClock("peer", time.Now()))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		name, ms, err := DecodeWallClock(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedClock) {
				t.Fatalf("error does not wrap ErrMalformedClock: %v", err)
			}
			return
		}
		if name == "" || ms <= 0 || !bytes.Equal(EncodeWallClock(name, time.UnixMilli(ms)), b) {
			t.Fatalf("accepted %q at %d from % x", name, ms, b)
		}
	})
}
