package memnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Errors returned by transports. Dial errors wrap one of them; a dial that
// timed out also satisfies net.Error with Timeout() == true.
var (
	// ErrShutdown: the transport itself has been shut down.
	ErrShutdown = errors.New("memnet: transport shut down")
	// ErrRefused: the destination address belongs to a shut-down transport.
	ErrRefused = errors.New("memnet: connection refused")
	// ErrNoRoute: no transport ever had the destination address.
	ErrNoRoute = errors.New("memnet: no route to host")
	// ErrTimeout: the dial did not complete within its timeout, because the
	// link is cut or the peer is not accepting streams.
	ErrTimeout error = timeoutError{}
	// ErrStreamCut: the stream was cut by a fault or a Shutdown while the
	// dial was completing.
	ErrStreamCut = errors.New("memnet: stream cut by a network fault")
	// ErrNameInUse: a live transport already has the requested name.
	ErrNameInUse = errors.New("memnet: name in use")
	// ErrAddrInUse: a live transport already has the requested address.
	ErrAddrInUse = errors.New("memnet: address in use")
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "memnet: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var _ net.Error = timeoutError{}

const (
	// DefaultInboxSize is the packet inbox capacity of a new transport.
	DefaultInboxSize = 1024
	// MaxInboxSize bounds SetInboxSize.
	MaxInboxSize = 1 << 20
	// streamBacklog is how many dialed streams may wait for the acceptor
	// to read StreamCh before further dials block (like a listen backlog).
	streamBacklog = 16
	// DefaultPort is the port of automatically assigned addresses.
	DefaultPort = 7946
	// autoBase is 127.0.0.0: automatic addresses are 127.0.0.1, .2, ...
	// spilling into 127.0.1.0 and on, all inside 127/8.
	autoBase = 0x7f000000
	autoMax  = 1<<24 - 2
)

// Network is a simulated network connecting Transports. The zero value is
// ready to use and seeds its random source from the clock on first use;
// New fixes the seed. All methods are safe for concurrent use.
type Network struct {
	initOnce sync.Once
	seed     int64

	// afterFunc schedules delayed deliveries; tests replace it before first
	// use to fire timers by hand. It returns a function stopping the timer.
	afterFunc func(d time.Duration, f func()) (stop func() bool)

	// mu guards everything below, and each Transport's down and pending.
	mu        sync.Mutex
	rng       *rand.Rand
	inboxSize int
	byAddr    map[string]*Transport // latest transport at each address, live or down
	byName    map[string]*Transport // latest transport with each name, live or down
	usedAddr  map[string]bool       // every address ever assigned
	nextAuto  uint32
	faults    faults
	streams   map[*stream]struct{}
	nodeStats map[string]*counters
	linkStats map[Link]*counters
}

// New returns a Network whose random choices (loss, duplication) come from
// seed, so a single-threaded test replays exactly.
func New(seed int64) *Network {
	n := &Network{}
	n.initOnce.Do(func() { n.setup(seed) })
	return n
}

func (n *Network) lazy() {
	n.initOnce.Do(func() { n.setup(time.Now().UnixNano()) })
}

func (n *Network) setup(seed int64) {
	n.seed = seed
	n.rng = rand.New(rand.NewPCG(uint64(seed), 0x6d656d6e6574)) // "memnet"
	if n.afterFunc == nil {
		n.afterFunc = func(d time.Duration, f func()) func() bool {
			return time.AfterFunc(d, f).Stop
		}
	}
	n.inboxSize = DefaultInboxSize
	n.byAddr = make(map[string]*Transport)
	n.byName = make(map[string]*Transport)
	n.usedAddr = make(map[string]bool)
	n.faults = newFaults()
	n.streams = make(map[*stream]struct{})
	n.nodeStats = make(map[string]*counters)
	n.linkStats = make(map[Link]*counters)
}

// Seed returns the seed of the random source; log it when a test fails.
func (n *Network) Seed() int64 {
	n.lazy()
	return n.seed
}

// SetInboxSize sets the packet inbox capacity (1..MaxInboxSize) of
// transports created afterwards; existing transports keep theirs. The same
// number bounds how many delayed packets may be in flight to one transport.
func (n *Network) SetInboxSize(size int) error {
	n.lazy()
	if size < 1 || size > MaxInboxSize {
		return fmt.Errorf("memnet: inbox size %d out of range 1..%d", size, MaxInboxSize)
	}
	n.mu.Lock()
	n.inboxSize = size
	n.mu.Unlock()
	return nil
}

// NewTransport returns a transport named name at a fresh address
// 127.0.x.y:7946 never used before on this network.
func (n *Network) NewTransport(name string) (*Transport, error) {
	n.lazy()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.checkNameLocked(name); err != nil {
		return nil, err
	}
	for n.nextAuto < autoMax {
		n.nextAuto++
		ip := net.IPv4(byte((autoBase+n.nextAuto)>>24), byte((autoBase+n.nextAuto)>>16),
			byte((autoBase+n.nextAuto)>>8), byte(autoBase+n.nextAuto)).To4()
		key := joinAddr(ip, DefaultPort)
		if !n.usedAddr[key] {
			return n.addLocked(name, ip, DefaultPort, key), nil
		}
	}
	return nil, errors.New("memnet: automatic addresses exhausted")
}

// NewTransportAt returns a transport named name at addr ("IP:port", port
// 1..65535). The address may be one a shut-down transport had, so a
// restarted node can come back where it was.
func (n *Network) NewTransportAt(name, addr string) (*Transport, error) {
	n.lazy()
	ip, port, key, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.checkNameLocked(name); err != nil {
		return nil, err
	}
	if t := n.byAddr[key]; t != nil && !t.down {
		return nil, fmt.Errorf("memnet: address %s held by %q: %w", key, t.name, ErrAddrInUse)
	}
	return n.addLocked(name, ip, port, key), nil
}

func (n *Network) checkNameLocked(name string) error {
	if name == "" {
		return errors.New("memnet: transport name is empty")
	}
	if t := n.byName[name]; t != nil && !t.down {
		return fmt.Errorf("memnet: name %q at %s: %w", name, t.addr, ErrNameInUse)
	}
	return nil
}

func (n *Network) addLocked(name string, ip net.IP, port int, key string) *Transport {
	t := &Transport{
		nw:       n,
		name:     name,
		addr:     key,
		ip:       ip,
		port:     port,
		udpAddr:  &net.UDPAddr{IP: ip, Port: port},
		tcpAddr:  &net.TCPAddr{IP: ip, Port: port},
		packetCh: make(chan *memberlist.Packet, n.inboxSize),
		streamCh: make(chan net.Conn, streamBacklog),
		done:     make(chan struct{}),
		pending:  make(map[*delayed]struct{}),
		stats:    n.nodeLocked(name),
	}
	n.byAddr[key] = t
	n.byName[name] = t
	n.usedAddr[key] = true
	return t
}

// parseAddr validates "IP:port" and returns its canonical form.
func parseAddr(addr string) (net.IP, int, string, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, 0, "", fmt.Errorf("memnet: address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, 0, "", fmt.Errorf("memnet: address %q: host %q is not an IP", addr, host)
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return nil, 0, "", fmt.Errorf("memnet: address %q: port %q not in 1..65535", addr, ps)
	}
	return ip, port, joinAddr(ip, port), nil
}

func joinAddr(ip net.IP, port int) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}
