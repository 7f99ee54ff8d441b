// Command bareresponder is the reference DNS server of the benchmark
// runner (test/bench): the least a miekg/dns server can do to answer a
// query. It loads prebuilt answers, keeps them in a map from (qname,
// qtype) to a *dns.Msg, and per query copies the template, sets the
// query's Id, packs and writes. No resolution, no shuffling, no size
// checks: whatever Murmur's dnsserver does beyond this is its own cost.
//
//	bareresponder -addr 127.0.0.1:8653 -answers answers.txt
//
// The answers file holds one packed DNS response per line, base64
// (standard encoding); the runner writes it from Murmur's own answers so
// both servers send the same records. Lines starting with '#' are
// ignored. Questions not in the file get REFUSED. The server listens on
// UDP and TCP, prints "ready ADDR" on stdout once both listen, and exits
// on SIGINT or SIGTERM.
package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/miekg/dns"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bareresponder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8653", "`IP:PORT` to serve on, UDP and TCP")
	file := fs.String("answers", "", "`file` of base64 packed answers, one per line (required)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "bareresponder: -answers FILE is required and takes no arguments")
		return 2
	}
	f, err := os.Open(*file)
	if err != nil {
		fmt.Fprintf(stderr, "bareresponder: %v\n", err)
		return 1
	}
	r, err := load(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "bareresponder: %s: %v\n", *file, err)
		return 1
	}
	pc, err := net.ListenPacket("udp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "bareresponder: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		fmt.Fprintf(stderr, "bareresponder: %v\n", err)
		return 1
	}
	udp := &dns.Server{PacketConn: pc, Handler: r}
	tcp := &dns.Server{Listener: ln, Handler: r}
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	fmt.Fprintf(stdout, "ready %s (%d answers)\n", pc.LocalAddr(), len(r.answers))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	code := 0
	select {
	case <-sig:
	case err := <-errc:
		fmt.Fprintf(stderr, "bareresponder: %v\n", err)
		code = 1
	}
	_ = udp.Shutdown()
	_ = tcp.Shutdown()
	return code
}

type key struct {
	name  string
	qtype uint16
}

// responder answers from a fixed map. It is read-only after load, so
// concurrent ServeDNS calls need no lock.
type responder struct {
	answers map[key]*dns.Msg
}

var _ dns.Handler = (*responder)(nil)

// load reads base64 packed answers, one per line.
func load(r io.Reader) (*responder, error) {
	rs := &responder{answers: map[key]*dns.Msg{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		wire, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: not base64: %w", line, err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil {
			return nil, fmt.Errorf("line %d: not a DNS message: %w", line, err)
		}
		if len(m.Question) != 1 {
			return nil, fmt.Errorf("line %d: %d questions, want 1", line, len(m.Question))
		}
		// Pack writes the extended rcode into an OPT record: with one
		// shared template per answer that would be a data race, and
		// the answer depends on the query's EDNS anyway. Drop it.
		extra := m.Extra[:0]
		for _, rr := range m.Extra {
			if rr.Header().Rrtype != dns.TypeOPT {
				extra = append(extra, rr)
			}
		}
		m.Extra = extra
		// Name compression, as Murmur (always) and CoreDNS and BIND do:
		// the two servers pack the same bytes.
		m.Compress = true
		q := m.Question[0]
		rs.answers[key{strings.ToLower(q.Name), q.Qtype}] = m
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rs.answers) == 0 {
		return nil, errors.New("no answers")
	}
	return rs, nil
}

// ServeDNS copies the template, sets the Id, packs and writes.
func (rs *responder) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	tmpl, ok := rs.answers[key{strings.ToLower(q.Name), q.Qtype}]
	if !ok {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeRefused)
		_ = w.WriteMsg(m)
		return
	}
	m := *tmpl
	m.Id = req.Id
	_ = w.WriteMsg(&m)
}
