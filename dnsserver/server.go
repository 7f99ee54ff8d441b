package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/murmurhq/murmur/catalog"
)

// ErrRunTwice is returned by a second call of Run: a Server serves once.
var ErrRunTwice = errors.New("dnsserver: Run called more than once")

// shutdownTimeout bounds how long Run waits for answers in flight.
const shutdownTimeout = 5 * time.Second

// Server answers DNS from the catalog snapshots Update hands it. It is a
// dns.Handler, so it can also be mounted in another miekg/dns server. All
// methods are safe for concurrent use.
type Server struct {
	log *slog.Logger

	// zone is what queries read: the last snapshot compiled under the
	// current config. Update and SetConfig replace it; a query never
	// compiles.
	zone atomic.Pointer[zone]

	// buildMu serialises Update and SetConfig; it guards last and
	// skipped, and is never taken on the query path.
	buildMu sync.Mutex
	last    *catalog.Snapshot
	skipped []string

	pool  sync.Pool // *scratch
	stats counters

	// ctx bounds recursor exchanges; Run cancels it on the way out so
	// that shutdown does not wait for upstream timeouts.
	ctx     context.Context
	cancel  context.CancelFunc
	running atomic.Bool
}

var _ dns.Handler = (*Server)(nil)

// emptyCatalog is answered until the first Update.
var emptyCatalog = catalog.Build("", nil, nil, 0)

// New validates cfg and returns a server answering from an empty catalog
// until the first Update. A nil logger discards.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	rc, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{log: log.With("component", "dns"), last: emptyCatalog}
	s.zone.Store(compile(nil, emptyCatalog, rc))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.pool.New = func() any {
		// Each scratch has its own generator, so shuffling takes no lock.
		// Seeds come from the runtime's source; the pure Resolve takes
		// an injected one.
		return newScratch(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	}
	return s, nil
}

// Update compiles the zone of a new catalog snapshot and makes queries
// answer from it. The catalog calls it from its goroutine with each
// snapshot in order (catalog.Config.OnSnapshot), so the work happens
// there, never on the query path; only the services the snapshot changed
// are recompiled.
func (s *Server) Update(snap *catalog.Snapshot) {
	if snap == nil {
		snap = emptyCatalog
	}
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	s.last = snap
	s.store(compile(s.zone.Load(), snap, s.zone.Load().rc))
}

// SetConfig replaces the configuration (SIGHUP reload) and recompiles the
// zone. Queries in flight finish with the old one. On error nothing
// changes.
func (s *Server) SetConfig(cfg Config) error {
	rc, err := cfg.compile()
	if err != nil {
		return err
	}
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	s.store(compile(nil, s.last, rc))
	s.log.Info("dns config applied", "config", rc.Config.String())
	return nil
}

// store publishes z and logs what it newly leaves out. Called with
// buildMu held.
func (s *Server) store(z *zone) {
	s.zone.Store(z)
	sk := z.skippedAll()
	if slices.Equal(sk, s.skipped) {
		return
	}
	for _, why := range sk {
		if !slices.Contains(s.skipped, why) {
			s.log.Warn("not answerable in DNS", "reason", why)
		}
	}
	s.skipped = sk
}

// Config returns the configuration in use.
func (s *Server) Config() Config {
	c := s.zone.Load().rc.Config
	c.Recursors = slices.Clone(c.Recursors)
	return c
}

// Stats returns the counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// ServeDNS answers one request: the hot path. It reads the compiled zone
// with one atomic load and allocates nothing once its pools are warm.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if req == nil || req.Response {
		return // never answer an answer: no loops, no reflection
	}
	// The latency of one query in latencySample is measured: reading the
	// clock twice costs about as much as a twentieth of a query.
	var start time.Time
	sampled := s.stats.queries.Add(1)%latencySample == 0
	if sampled {
		start = time.Now()
	}
	s.stats.question(req)
	z := s.zone.Load()
	rc := z.rc
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	tcp := isTCP(w)
	if z.resolve(sc, req) && len(rc.recursors) > 0 {
		s.forward(w, req, sc, rc, tcp)
	} else {
		s.send(w, sc, &sc.msg, tcp)
	}
	if sampled {
		s.stats.observe(time.Since(start))
	}
}

// isTCP tells the transport of a ResponseWriter: by its remote address,
// else by the network name of its local one. Unknown is UDP, the
// conservative choice for sizes.
func isTCP(w dns.ResponseWriter) bool {
	switch w.RemoteAddr().(type) {
	case *net.TCPAddr:
		return true
	case *net.UDPAddr:
		return false
	}
	a := w.LocalAddr()
	return a != nil && strings.HasPrefix(a.Network(), "tcp")
}

// send packs m to fit the transport and writes it. An answer that cannot
// be packed becomes SERVFAIL.
func (s *Server) send(w dns.ResponseWriter, sc *scratch, m *dns.Msg, tcp bool) {
	limit := maxTCPSize
	if !tcp {
		limit = udpLimit(sc.clientSize, sc.udpMax)
	}
	b, err := sc.pack(m, limit)
	if err != nil {
		s.stats.writeErrors.Add(1)
		s.log.Warn("cannot pack answer, sending SERVFAIL", "question", questionString(m), "err", err)
		m.Rcode = dns.RcodeServerFailure
		m.Truncated = false
		m.Answer, m.Ns, m.Extra = nil, nil, nil
		if sc.clientSize > 0 {
			m.Extra = []dns.RR{&sc.opt}
		}
		if b, err = sc.pack(m, limit); err != nil {
			return
		}
	}
	if m.Truncated {
		s.stats.truncated.Add(1)
	}
	s.stats.response(m.Rcode)
	if _, err := w.Write(b); err != nil {
		s.stats.writeErrors.Add(1)
	}
}

func questionString(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return ""
	}
	q := m.Question[0]
	return q.Name + " " + dns.Type(q.Qtype).String()
}

// acceptMsg lets every request through to the handler, so that it
// answers (and counts) NOTIMP and FORMERR itself; only responses are
// dropped, as miekg's default does.
func acceptMsg(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		return dns.MsgIgnore
	}
	return dns.MsgAccept
}

// Run serves DNS on pc (UDP) and ln (TCP) until ctx is done, then shuts
// down and waits for answers in flight. Either may be nil, not both. Run
// takes ownership of both and closes them. It returns nil after ctx is
// done, or the error that stopped a listener. Run may be called once.
func (s *Server) Run(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	if pc == nil && ln == nil {
		return errors.New("dnsserver: Run needs a packet conn, a listener or both")
	}
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunTwice
	}
	defer s.cancel()

	type run struct {
		name    string
		srv     *dns.Server
		started chan struct{}
		done    chan struct{}
		err     error
	}
	var runs []*run
	exited := make(chan *run, 2)
	start := func(name string, srv *dns.Server) {
		r := &run{name: name, srv: srv, started: make(chan struct{}), done: make(chan struct{})}
		var once sync.Once
		srv.NotifyStartedFunc = func() { once.Do(func() { close(r.started) }) }
		srv.Handler = s
		srv.MsgAcceptFunc = acceptMsg
		srv.MsgInvalidFunc = func([]byte, error) { s.stats.malformed.Add(1) }
		runs = append(runs, r)
		go func() {
			r.err = srv.ActivateAndServe()
			close(r.done)
			exited <- r
		}()
	}
	var attrs []any
	if pc != nil {
		start("udp", &dns.Server{PacketConn: servedConn(pc), UDPSize: readUDPSize})
		attrs = append(attrs, "udp", pc.LocalAddr().String())
	}
	if ln != nil {
		start("tcp", &dns.Server{Listener: ln})
		attrs = append(attrs, "tcp", ln.Addr().String())
	}
	s.log.Info("dns server started", attrs...)

	var err error
	select {
	case <-ctx.Done():
	case r := <-exited:
		err = fmt.Errorf("dnsserver: %s server stopped: %w", r.name, r.err)
		if r.err == nil {
			err = fmt.Errorf("dnsserver: %s server stopped", r.name)
		}
	}
	s.cancel() // abort recursor exchanges so shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, r := range runs {
		select {
		case <-r.started:
		case <-r.done:
			continue
		}
		if e := r.srv.ShutdownContext(sctx); e != nil && err == nil {
			err = fmt.Errorf("dnsserver: %s shutdown: %w", r.name, e)
		}
		select {
		case <-r.done:
		case <-sctx.Done():
			if err == nil {
				err = fmt.Errorf("dnsserver: %s shutdown: %w", r.name, sctx.Err())
			}
		}
	}
	s.log.Info("dns server stopped")
	return err
}

// boundUDP is a UDP socket bound to one address, served by miekg/dns as a
// plain net.PacketConn. Given a *net.UDPConn, miekg/dns asks the kernel
// for each packet's destination (IP_PKTINFO) and parses that control
// message on every read and answer, so that a wildcard socket answers
// from the address the query reached. A socket bound to one address
// always answers from it, and that bookkeeping was 485 of the 915 bytes
// the server allocated per query (heap profile of agentd at 10k q/s,
// BENCHMARKS.md §1): garbage that the collector then has to chase while
// queries wait on a one-CPU agent.
type boundUDP struct{ *net.UDPConn }

// servedConn is the conn miekg/dns gets for pc: boundUDP when pc is a
// UDP socket bound to a specific address, pc itself otherwise (a
// wildcard socket keeps IP_PKTINFO, so that answers leave from the
// address each query was sent to).
func servedConn(pc net.PacketConn) net.PacketConn {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return pc
	}
	la, ok := u.LocalAddr().(*net.UDPAddr)
	if !ok || la.IP == nil || la.IP.IsUnspecified() {
		return pc
	}
	return boundUDP{u}
}
