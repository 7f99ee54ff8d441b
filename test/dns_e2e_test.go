package test

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/murmurhq/murmur/internal/testutil"
)

// digResult is dig's answer, parsed.
type digResult struct {
	status     string
	flags      []string
	answer     []string // "name ttl class type rdata"
	authority  []string
	additional []string
	raw        string
}

func (r digResult) hasFlag(f string) bool {
	for _, x := range r.flags {
		if x == f {
			return true
		}
	}
	return false
}

// ofType returns the records of type typ in section.
func ofType(section []string, typ string) []string {
	var out []string
	for _, rr := range section {
		if f := strings.Fields(rr); len(f) >= 5 && f[3] == typ {
			out = append(out, rr)
		}
	}
	return out
}

var (
	digStatus = regexp.MustCompile(`status: (\w+)`)
	digFlags  = regexp.MustCompile(`;; flags: ([a-z ]+);`)
)

// needDig skips when dig is missing (CI installs dnsutils).
func needDig(t *testing.T) {
	t.Helper()
	testutil.NeedTool(t, "dig", "apt-get install dnsutils")
}

// digTimeout bounds the retries of one query: a UDP answer lost or late
// on a loaded machine is asked again, like a resolver would.
const digTimeout = 30 * time.Second

// dig queries p's DNS server. A query that got no answer at all is
// retried until digTimeout; the result is the first answer.
func (p *proc) dig(args ...string) digResult {
	p.t.Helper()
	host, port, _ := net.SplitHostPort(p.dnsAddr)
	base := []string{"@" + host, "-p", port, "+time=5", "+tries=1", "+noall", "+comments", "+answer", "+authority", "+additional"}
	var r digResult
	for deadline := time.Now().Add(digTimeout); ; {
		out, _ := exec.Command("dig", append(base, args...)...).CombinedOutput()
		r = digResult{raw: string(out)}
		if m := digStatus.FindStringSubmatch(r.raw); m != nil {
			r.status = m[1]
		}
		if r.status != "" || time.Now().After(deadline) {
			break
		}
	}
	if m := digFlags.FindStringSubmatch(r.raw); m != nil {
		r.flags = strings.Fields(m[1])
	}
	section := &r.answer
	for _, line := range strings.Split(r.raw, "\n") {
		switch {
		case strings.HasPrefix(line, ";; ANSWER SECTION"):
			section = &r.answer
		case strings.HasPrefix(line, ";; AUTHORITY SECTION"):
			section = &r.authority
		case strings.HasPrefix(line, ";; ADDITIONAL SECTION"):
			section = &r.additional
		case line == "" || strings.HasPrefix(line, ";"):
		default:
			*section = append(*section, strings.Join(strings.Fields(line), " "))
		}
	}
	return r
}

func (p *proc) register(args ...string) {
	p.t.Helper()
	if _, errOut, code := p.agentctl(append([]string{"service", "register"}, args...)...); code != 0 {
		p.t.Fatalf("service register %v on %s: %s", args, p.name, errOut)
	}
}

func TestDNSEndToEnd(t *testing.T) {
	needDig(t)
	ps := cluster(t, 3, agentOpts{config: fastGossip + "\n[meta]\nrack = \"r7\"\n"})
	// web on node1 and node2 (tagged), db on node3 failing its check.
	ps[0].register("-name", "web", "-id", "web-1", "-port", "8080", "-tag", "v1")
	ps[1].register("-name", "web", "-id", "web-2", "-port", "8081", "-tag", "v2")
	dbPort := testutil.ReservePort(t) // refuses connections until Listen
	ps[2].register("-name", "db", "-port", "5432", "-check-tcp", dbPort.Addr(), "-interval", "1s")
	q := ps[2] // ask the agent that runs neither web instance

	eventually(t, patience, "web SRV with 2 answers", func() bool {
		return len(ofType(q.dig("web.service.murmur", "SRV").answer, "SRV")) == 2
	})

	t.Run("SRV with additional A", func(t *testing.T) {
		r := q.dig("web.service.murmur", "SRV")
		if r.status != "NOERROR" || !r.hasFlag("aa") {
			t.Fatalf("status %s flags %v\n%s", r.status, r.flags, r.raw)
		}
		srv := ofType(r.answer, "SRV")
		targets := map[string]bool{}
		for _, rr := range srv {
			f := strings.Fields(rr)
			targets[f[len(f)-1]] = true
		}
		if !targets["node1.node.murmur."] || !targets["node2.node.murmur."] {
			t.Fatalf("SRV targets %v\n%s", targets, r.raw)
		}
		if a := ofType(r.additional, "A"); len(a) != 2 {
			t.Fatalf("additional A: %v\n%s", a, r.raw)
		}
	})
	t.Run("A", func(t *testing.T) {
		// Both instances are on 127.0.0.1: an RRset holds no duplicates.
		r := q.dig("web.service.murmur", "A")
		if a := ofType(r.answer, "A"); len(a) != 1 || !strings.HasSuffix(a[0], "127.0.0.1") {
			t.Fatalf("A answers %v\n%s", a, r.raw)
		}
	})
	t.Run("tag and RFC 2782", func(t *testing.T) {
		for _, name := range []string{"v1.web.service.murmur", "_web._v1.service.murmur"} {
			srv := ofType(q.dig(name, "SRV").answer, "SRV")
			if len(srv) != 1 || !strings.Contains(srv[0], "8080 node1.node.murmur.") {
				t.Fatalf("%s: %v", name, srv)
			}
		}
		if srv := ofType(q.dig("_web._tcp.service.murmur", "SRV").answer, "SRV"); len(srv) != 2 {
			t.Fatalf("_web._tcp: %v", srv)
		}
	})
	t.Run("node A and TXT, case-insensitive", func(t *testing.T) {
		if a := ofType(q.dig("NODE1.node.murmur", "A").answer, "A"); len(a) != 1 {
			t.Fatalf("node A: %v", a)
		}
		txt := ofType(q.dig("node1.node.murmur", "TXT").answer, "TXT")
		if len(txt) != 1 || !strings.Contains(txt[0], `"rack=r7"`) {
			t.Fatalf("node TXT: %v", txt)
		}
	})
	t.Run("PTR", func(t *testing.T) {
		r := q.dig("-x", "127.0.0.1")
		ptr := ofType(r.answer, "PTR")
		if len(ptr) != 3 {
			t.Fatalf("PTR of 127.0.0.1 (all three agents): %v\n%s", ptr, r.raw)
		}
	})
	t.Run("NXDOMAIN with SOA", func(t *testing.T) {
		r := q.dig("nosuch.service.murmur", "A")
		if r.status != "NXDOMAIN" || len(ofType(r.authority, "SOA")) != 1 {
			t.Fatalf("%s\n%s", r.status, r.raw)
		}
	})
	t.Run("NODATA with SOA for a service with no healthy instance", func(t *testing.T) {
		r := q.dig("db.service.murmur", "SRV")
		if r.status != "NOERROR" || len(r.answer) != 0 || len(ofType(r.authority, "SOA")) != 1 {
			t.Fatalf("%s answers %v\n%s", r.status, r.answer, r.raw)
		}
	})
	t.Run("TCP", func(t *testing.T) {
		r := q.dig("+tcp", "web.service.murmur", "SRV")
		if len(ofType(r.answer, "SRV")) != 2 {
			t.Fatalf("over TCP: %s", r.raw)
		}
	})
	t.Run("out of zone REFUSED", func(t *testing.T) {
		if r := q.dig("example.com", "A"); r.status != "REFUSED" {
			t.Fatalf("%s\n%s", r.status, r.raw)
		}
	})

	t.Run("failing then passing TCP check", func(t *testing.T) {
		ln := dbPort.Listen()
		eventually(t, patience, "db to appear once its port listens", func() bool {
			return len(ofType(q.dig("db.service.murmur", "SRV").answer, "SRV")) == 1
		})
		ln.Close()
		eventually(t, patience, "db to leave DNS once its port closes", func() bool {
			return len(ofType(q.dig("db.service.murmur", "SRV").answer, "SRV")) == 0
		})
	})

	t.Run("40 instances: TC over UDP, all over TCP", func(t *testing.T) {
		for i := 0; i < 40; i++ {
			ps[i%3].register("-name", "big", "-id", fmt.Sprintf("big-%02d", i), "-port", itoa(9000+i))
		}
		eventually(t, patience, "40 instances over TCP", func() bool {
			return len(ofType(q.dig("+tcp", "big.service.murmur", "SRV").answer, "SRV")) == 40
		})
		r := q.dig("+noedns", "+ignore", "big.service.murmur", "SRV")
		if !r.hasFlag("tc") {
			t.Fatalf("40 SRV over UDP without EDNS: no TC\n%s", r.raw)
		}
	})

	t.Run("kill -9 removes the node's instances", func(t *testing.T) {
		ps[1].kill9()
		eventually(t, patience, "web-2 gone", func() bool {
			srv := ofType(ps[0].dig("web.service.murmur", "SRV").answer, "SRV")
			return len(srv) == 1 && strings.Contains(srv[0], "node1.node.murmur.")
		})
	})
}
