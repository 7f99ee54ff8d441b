package main

import (
	"bytes"
	"encoding/base64"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// recorder is a dns.ResponseWriter that keeps the message written.
type recorder struct {
	msg *dns.Msg
}

func (r *recorder) LocalAddr() net.Addr       { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr      { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353} }
func (r *recorder) WriteMsg(m *dns.Msg) error { r.msg = m.Copy(); return nil }
func (r *recorder) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	r.msg = m
	return len(b), nil
}
func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

func answerLine(t *testing.T, name string, qtype uint16, rrs ...string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response, m.Authoritative = true, true
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	m.SetEdns0(4096, false)
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestLoadErrors(t *testing.T) {
	noQuestion, _ := (&dns.Msg{}).Pack()
	tests := []struct {
		name, input, want string
	}{
		{"empty", "", "no answers"},
		{"comments only", "# nothing\n\n", "no answers"},
		{"not base64", "!!!\n", "line 1: not base64"},
		{"not dns", base64.StdEncoding.EncodeToString([]byte{1, 2, 3}) + "\n", "line 1: not a DNS message"},
		{"no question", "# c\n" + base64.StdEncoding.EncodeToString(noQuestion), "line 2: 0 questions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(strings.NewReader(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestServe(t *testing.T) {
	input := answerLine(t, "web.service.murmur.", dns.TypeA, "web.service.murmur. 0 IN A 10.0.0.1", "web.service.murmur. 0 IN A 10.0.0.2") + "\n" +
		answerLine(t, "web.service.murmur.", dns.TypeSRV, "web.service.murmur. 0 IN SRV 1 1 80 a.node.murmur.") + "\n"
	rs, err := load(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		answers int
	}{
		{"A", "web.service.murmur.", dns.TypeA, dns.RcodeSuccess, 2},
		{"SRV", "web.service.murmur.", dns.TypeSRV, dns.RcodeSuccess, 1},
		{"case-insensitive", "WEB.Service.murmur.", dns.TypeA, dns.RcodeSuccess, 2},
		{"unknown type", "web.service.murmur.", dns.TypeTXT, dns.RcodeRefused, 0},
		{"unknown name", "db.service.murmur.", dns.TypeA, dns.RcodeRefused, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := new(dns.Msg)
			req.SetQuestion(tc.qname, tc.qtype)
			req.Id = 4242
			w := &recorder{}
			rs.ServeDNS(w, req)
			if w.msg == nil {
				t.Fatal("no answer written")
			}
			if w.msg.Id != 4242 || w.msg.Rcode != tc.rcode || len(w.msg.Answer) != tc.answers {
				t.Fatalf("answer id %d rcode %s answers %d; want id 4242 rcode %s answers %d",
					w.msg.Id, dns.RcodeToString[w.msg.Rcode], len(w.msg.Answer), dns.RcodeToString[tc.rcode], tc.answers)
			}
			if w.msg.IsEdns0() != nil {
				t.Error("answer carries the template's OPT record")
			}
		})
	}
	for k, m := range rs.answers {
		if m.Id == 4242 {
			t.Errorf("template %v was modified", k)
		}
	}
}

func TestRunBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-addr", "127.0.0.1:0"}, &out, &errb); code != 2 {
		t.Fatalf("run without -answers: exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "-answers FILE is required") {
		t.Fatalf("stderr %q does not name -answers", errb.String())
	}
}
