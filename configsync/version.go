package configsync

import (
	"cmp"
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

// after reports whether (wall, logical) of v is strictly after that of w,
// ignoring the node.
func (v Version) after(w Version) bool {
	return v.Wall > w.Wall || (v.Wall == w.Wall && v.Logical > w.Logical)
}

// HLC issues versions for one node. It is a plain value: not safe for
// concurrent use, and it never reads a clock (callers pass nowMs).
type HLC struct {
	node    string
	wall    int64
	logical uint32
}

// NewHLC returns a clock for node that has issued nothing yet.
func NewHLC(node string) HLC { return HLC{node: node} }

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

// Observe advances the clock past a received version. It returns how many
// milliseconds v's wall time is ahead of nowMs (0 when it is not): a large
// skew means the origin's clock runs ahead, and every version issued here
// from now on carries that wall time until the local clock catches up. The
// driver logs and exports it; the clock accepts it regardless, because
// refusing it would leave the entry unmergeable.
func (h *HLC) Observe(v Version, nowMs int64) (skewMs int64) {
	if v.after(Version{Wall: h.wall, Logical: h.logical}) {
		h.wall, h.logical = v.Wall, v.Logical
	}
	if v.Wall > nowMs {
		return v.Wall - nowMs
	}
	return 0
}

// Last is the greatest (wall, logical) issued or observed, with this
// node's name.
func (h *HLC) Last() Version { return Version{Wall: h.wall, Logical: h.logical, Node: h.node} }
