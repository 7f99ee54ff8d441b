package configsync

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Version is a hybrid logical clock reading: wall milliseconds, a logical
// counter for events within one millisecond (or while the wall clock lags
// a version already seen), and the origin node as the final tie-break.
// Versions are totally ordered by Wall, then Logical, then Node.
type Version struct {
	// Wall is unix milliseconds of the origin's clock (or of a clock it
	// had observed, when that was ahead).
	Wall int64
	// Logical orders events with the same Wall.
	Logical uint32
	// Node is the origin node name.
	Node string
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w.
func (v Version) Compare(w Version) int {
	if c := cmp.Compare(v.Wall, w.Wall); c != 0 {
		return c
	}
	if c := cmp.Compare(v.Logical, w.Logical); c != 0 {
		return c
	}
	return cmp.Compare(v.Node, w.Node)
}

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool { return v.Compare(w) < 0 }

// IsZero reports whether v is the zero Version (older than any issued).
func (v Version) IsZero() bool { return v.Wall == 0 && v.Logical == 0 && v.Node == "" }

// String is "WALL.LOGICAL"; the API shows the origin separately.
func (v Version) String() string {
	return strconv.FormatInt(v.Wall, 10) + "." + strconv.FormatUint(uint64(v.Logical), 10)
}

// Time is the wall part as a time.Time.
func (v Version) Time() time.Time { return time.UnixMilli(v.Wall) }

// MaxWall is the greatest wall time a Version may carry: the last
// millisecond of year 9999 UTC. Decoders refuse anything beyond it or
// below zero: no correct clock issues such versions, and time.Time cannot
// format them as JSON.
const MaxWall = 253402300799999

// checkWall reports a wall time no correct clock produces.
func checkWall(wall int64) error {
	if wall < 0 || wall > MaxWall {
		return fmt.Errorf("wall time %d ms is outside [0, %d] (years 1970 to 9999)", wall, MaxWall)
	}
	return nil
}

// after reports whether (wall, logical) of v is strictly after that of w,
// ignoring the node.
func (v Version) after(w Version) bool {
	return v.Wall > w.Wall || (v.Wall == w.Wall && v.Logical > w.Logical)
}

// HLC issues versions for one node. It is a plain value: not safe for
// concurrent use, and it never reads a clock (callers pass nowMs).
//
// Its wall part follows the greatest of the local clock and the versions
// it observed, but it never observes a version more than maxSkew ahead of
// the local clock (Observe refuses it), so one bad clock or forged message
// cannot drag it, and every version issued after it, into the future.
type HLC struct {
	node    string
	maxSkew int64 // ms
	wall    int64
	logical uint32
}

// NewHLC returns a clock for node that has issued nothing yet and refuses
// to observe versions more than maxSkewMs ahead of the local clock.
func NewHLC(node string, maxSkewMs int64) HLC { return HLC{node: node, maxSkew: maxSkewMs} }

// Next returns a version for a local write at wall time nowMs. It is
// strictly greater (in Wall, Logical) than every version issued or
// observed before, so a write made after seeing v beats v whatever the
// node names.
func (h *HLC) Next(nowMs int64) Version {
	switch {
	case nowMs > h.wall:
		h.wall, h.logical = nowMs, 0
	case h.logical == math.MaxUint32:
		h.wall, h.logical = h.wall+1, 0
	default:
		h.logical++
	}
	return Version{Wall: h.wall, Logical: h.logical, Node: h.node}
}

// Observe advances the clock past a received version, unless v's wall
// time is more than the maximum skew ahead of nowMs: then the clock is
// left alone and ok is false (the caller refuses the version). skewMs is
// how far v is ahead of nowMs (0 when it is not).
func (h *HLC) Observe(v Version, nowMs int64) (skewMs int64, ok bool) {
	if v.Wall > nowMs {
		skewMs = v.Wall - nowMs
	}
	if skewMs > h.maxSkew {
		return skewMs, false
	}
	h.advance(v)
	return skewMs, true
}

// advance moves the clock to v if v is later, unbounded (restores and
// local writes, whose versions this clock issued).
func (h *HLC) advance(v Version) {
	if v.after(Version{Wall: h.wall, Logical: h.logical}) {
		h.wall, h.logical = v.Wall, v.Logical
	}
}

// Ahead is how far the clock's wall part runs beyond nowMs plus the
// maximum skew, in ms (0 when within the bound). A positive value means
// the local wall clock went back, or the clock was restored from a run
// with a clock set ahead: versions issued now would be refused by peers.
func (h *HLC) Ahead(nowMs int64) int64 {
	if d := h.wall - nowMs - h.maxSkew; d > 0 {
		return d
	}
	return 0
}

// Last is the greatest (wall, logical) issued or observed, with this
// node's name.
func (h *HLC) Last() Version { return Version{Wall: h.wall, Logical: h.logical, Node: h.node} }
