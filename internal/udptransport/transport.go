package udptransport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"syscall"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
)

const (
	// maxPacket is the largest UDP payload; the one read buffer is this
	// big (memberlist's udpPacketBufSize).
	maxPacket = 65536
	// recvBuf is the socket receive buffer asked for, halved until the
	// kernel accepts it (memberlist's udpRecvBufSize).
	recvBuf = 2 << 20
	// bindAttempts: with port 0 the TCP listener picks the port and UDP
	// may find it taken; memberlist retries 10 times too.
	bindAttempts = 10
)

// Config configures a Transport. New copies it.
type Config struct {
	// BindAddr is the IP address to listen on, UDP and TCP ("0.0.0.0"
	// for every IPv4 address; "" for every address).
	BindAddr string
	// BindPort is the port, the same for UDP and TCP; 0 lets the kernel
	// pick one for TCP and binds UDP to the same number (GetAutoBindPort).
	BindPort int
	// Logger gets the lines NetTransport logs (errors reading a packet
	// or accepting a connection); nil discards them.
	Logger *log.Logger
	// MetricLabels are added to the memberlist.udp.received counter.
	MetricLabels []metrics.Label
}

// Transport is a memberlist.NodeAwareTransport over UDP and TCP. Its
// methods are safe for concurrent use, as memberlist requires.
type Transport struct {
	cfg      Config
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	tcp      *net.TCPListener
	udp      *net.UDPConn
	done     chan struct{} // closed by Shutdown
	stop     sync.Once
	wg       sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// New binds the listeners and starts reading from them.
func New(cfg Config) (*Transport, error) {
	if cfg.Logger == nil {
		cfg.Logger = log.New(io.Discard, "", 0)
	}
	cfg.MetricLabels = append([]metrics.Label(nil), cfg.MetricLabels...)
	t := &Transport{
		cfg:      cfg,
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn),
		done:     make(chan struct{}),
	}
	attempts := 1
	if cfg.BindPort == 0 {
		attempts = bindAttempts
	}
	var err error
	for range attempts {
		if t.tcp, t.udp, err = bind(cfg.BindAddr, cfg.BindPort); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	t.wg.Add(2)
	go t.tcpListen()
	go t.udpListen()
	return t, nil
}

// bind listens on TCP, then on UDP at the same port.
func bind(addr string, port int) (*net.TCPListener, *net.UDPConn, error) {
	ip := net.ParseIP(addr)
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, nil, fmt.Errorf("udptransport: start TCP listener on %q port %d: %w", addr, port, err)
	}
	port = tcp.Addr().(*net.TCPAddr).Port
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		tcp.Close()
		return nil, nil, fmt.Errorf("udptransport: start UDP listener on %q port %d: %w", addr, port, err)
	}
	if err := setRecvBuf(udp); err != nil {
		tcp.Close()
		udp.Close()
		return nil, nil, fmt.Errorf("udptransport: resize UDP receive buffer: %w", err)
	}
	return tcp, udp, nil
}

// setRecvBuf asks for recvBuf bytes of socket buffer, halving until the
// kernel accepts.
func setRecvBuf(c *net.UDPConn) error {
	var err error
	for size := recvBuf; size > 0; size /= 2 {
		if err = c.SetReadBuffer(size); err == nil {
			return nil
		}
	}
	return err
}

// GetAutoBindPort is the port bound (the one the kernel picked when
// Config.BindPort was 0).
func (t *Transport) GetAutoBindPort() int { return t.tcp.Addr().(*net.TCPAddr).Port }

// FinalAdvertiseAddr implements memberlist.Transport as NetTransport does:
// the given address (IPv4 in its 4-byte form) and port; without one, a
// private address of this host when bound to 0.0.0.0, else the bound
// address, and the bound port.
func (t *Transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		addr := net.ParseIP(ip)
		if addr == nil {
			return nil, 0, fmt.Errorf("udptransport: failed to parse advertise address %q", ip)
		}
		if ip4 := addr.To4(); ip4 != nil {
			addr = ip4
		}
		return addr, port, nil
	}
	if t.cfg.BindAddr == "0.0.0.0" {
		private, err := sockaddr.GetPrivateIP()
		if err != nil {
			return nil, 0, fmt.Errorf("udptransport: failed to get interface addresses: %w", err)
		}
		if private == "" {
			return nil, 0, errors.New("udptransport: no private IP address found, and explicit IP not provided")
		}
		addr := net.ParseIP(private)
		if addr == nil {
			return nil, 0, fmt.Errorf("udptransport: failed to parse advertise address: %q", private)
		}
		return addr, t.GetAutoBindPort(), nil
	}
	return t.tcp.Addr().(*net.TCPAddr).IP, t.GetAutoBindPort(), nil
}

// WriteTo implements memberlist.Transport.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport. The time is
// taken after the write returns, as NetTransport does.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	to, err := net.ResolveUDPAddr("udp", a.Addr)
	if err != nil {
		return time.Time{}, err
	}
	_, err = t.udp.WriteTo(b, to)
	return time.Now(), err
}

// PacketCh implements memberlist.Transport. Each Packet's Buf is its own
// copy of the packet's bytes.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout implements memberlist.Transport.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", a.Addr)
}

// StreamCh implements memberlist.Transport.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown closes the listeners and waits for the reading goroutines to
// end. It is idempotent. A packet or connection that arrives while
// nobody reads the channels no longer holds it up.
func (t *Transport) Shutdown() error {
	t.stop.Do(func() {
		close(t.done)
		t.tcp.Close()
		t.udp.Close()
	})
	t.wg.Wait()
	return nil
}

func (t *Transport) closed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// tcpListen hands accepted connections to StreamCh, backing off after an
// accept error as NetTransport does (5 ms doubling to 1 s).
func (t *Transport) tcpListen() {
	defer t.wg.Done()
	const baseDelay, maxDelay = 5 * time.Millisecond, time.Second
	var delay time.Duration
	for {
		conn, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.closed() {
				return
			}
			delay = min(max(2*delay, baseDelay), maxDelay)
			t.cfg.Logger.Printf("[ERR] memberlist: Error accepting TCP connection: %v", err)
			tm := time.NewTimer(delay)
			select {
			case <-tm.C:
			case <-t.done:
				tm.Stop()
				return
			}
			continue
		}
		delay = 0
		select {
		case t.streamCh <- conn:
		case <-t.done:
			conn.Close()
			return
		}
	}
}

// udpListen reads packets into one buffer and hands PacketCh a copy of
// each, timestamped right after the read.
func (t *Transport) udpListen() {
	defer t.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, addr, err := t.udp.ReadFrom(buf)
		ts := time.Now()
		if err != nil {
			if t.closed() {
				return
			}
			t.cfg.Logger.Printf("[ERR] memberlist: Error reading UDP packet: %v", err)
			continue
		}
		if n < 1 {
			t.cfg.Logger.Printf("[ERR] memberlist: UDP packet too short (%d bytes) %s", n, memberlist.LogAddress(addr))
			continue
		}
		metrics.IncrCounterWithLabels([]string{"memberlist", "udp", "received"}, float32(n), t.cfg.MetricLabels)
		p := &memberlist.Packet{Buf: bytes.Clone(buf[:n]), From: addr, Timestamp: ts}
		select {
		case t.packetCh <- p:
		case <-t.done:
			return
		}
	}
}
