package membership

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"github.com/murmurhq/murmur/catalog"
)

// Network coordinates (Vivaldi, serf/coordinate) ride on memberlist's ping
// acks: every ack carries the sender's coordinate, and every completed
// direct probe updates ours with the measured RTT.

const coordVersion = 1

// Coords owns this node's coordinate client and the last coordinate heard
// from each peer. It is safe for concurrent use.
type Coords struct {
	client *coordinate.Client
	dims   int

	mu sync.Mutex
	// peers holds the last valid coordinate of each node; guarded by mu.
	peers map[string]*coordinate.Coordinate
}

// NewCoords starts at the origin.
func NewCoords() *Coords {
	cfg := coordinate.DefaultConfig()
	c, err := coordinate.NewClient(cfg)
	if err != nil { // only for an invalid config, and the default is valid
		panic(err)
	}
	return &Coords{client: c, dims: int(cfg.Dimensionality), peers: map[string]*coordinate.Coordinate{}}
}

// Payload encodes this node's coordinate for a ping ack.
func (c *Coords) Payload() []byte { return encodeCoord(c.client.GetCoordinate()) }

// Observe records a peer's coordinate and updates ours with the RTT. Bad
// payloads from peers are ignored.
func (c *Coords) Observe(node string, rtt time.Duration, payload []byte) {
	other, err := decodeCoord(payload, c.dims)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.peers[node] = other
	c.mu.Unlock()
	_, _ = c.client.Update(node, other, rtt) // rejects implausible RTTs itself
}

// Get returns a copy of the coordinate of node; self is the local one.
func (c *Coords) Get(node string, self bool) (*coordinate.Coordinate, bool) {
	if self {
		return c.client.GetCoordinate(), true // a copy
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	co, ok := c.peers[node]
	if !ok {
		return nil, false
	}
	return co.Clone(), true
}

// Forget drops a reaped node.
func (c *Coords) Forget(node string) {
	c.mu.Lock()
	delete(c.peers, node)
	c.mu.Unlock()
	c.client.ForgetNode(node)
}

func encodeCoord(co *coordinate.Coordinate) []byte {
	buf := make([]byte, 0, 2+8*(len(co.Vec)+3))
	buf = append(buf, coordVersion, byte(len(co.Vec)))
	for _, f := range append(append([]float64(nil), co.Vec...), co.Error, co.Adjustment, co.Height) {
		buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(f))
	}
	return buf
}

var errBadCoord = errors.New("membership: malformed coordinate")

func decodeCoord(b []byte, dims int) (*coordinate.Coordinate, error) {
	if len(b) < 2 || b[0] != coordVersion || int(b[1]) != dims || len(b) != 2+8*(dims+3) {
		return nil, errBadCoord
	}
	f := func(i int) float64 { return math.Float64frombits(binary.BigEndian.Uint64(b[2+8*i:])) }
	co := &coordinate.Coordinate{Vec: make([]float64, dims)}
	for i := range dims {
		co.Vec[i] = f(i)
	}
	co.Error, co.Adjustment, co.Height = f(dims), f(dims+1), f(dims+2)
	if !co.IsValid() {
		return nil, fmt.Errorf("%w: not finite", errBadCoord)
	}
	return co, nil
}

// WithCoords is the catalog's view of the members (catalog.Members): the
// table's members with their coordinates (self's own from this agent's
// client). Safe for concurrent use.
type WithCoords struct {
	Self   string
	Table  *Table
	Coords *Coords
}

// Members returns every member with its coordinate, where known.
func (w WithCoords) Members() []catalog.Node {
	ms := w.Table.List()
	for i := range ms {
		ms[i].Coord, _ = w.Coords.Get(ms[i].Name, ms[i].Name == w.Self)
	}
	return ms
}
