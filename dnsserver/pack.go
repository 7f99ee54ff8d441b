package dnsserver

import (
	"sort"

	"github.com/miekg/dns"
)

// Sizes of the transports.
const (
	// maxUDPSize caps UDP answers whatever a client advertises, and is the
	// payload size our OPT record advertises (RFC 6891 §6.2.5 suggests
	// 4096 as a starting point; DNS on Murmur stays on loopback and LANs).
	maxUDPSize = 4096
	// maxTCPSize is the largest DNS message (RFC 1035 §4.2.2 length
	// prefix).
	maxTCPSize = dns.MaxMsgSize
)

// udpLimit is the largest UDP answer for a client that advertised size
// (0 without EDNS0: RFC 1035's 512).
func udpLimit(size int) int {
	switch {
	case size <= dns.MinMsgSize:
		return dns.MinMsgSize
	case size > maxUDPSize:
		return maxUDPSize
	}
	return size
}

// pack encodes m into the scratch buffer in at most limit bytes. It tries
// without name compression first (cheapest), then with, then truncates
// whole records: answers first, then authority, then additional. TC is
// set when an answer or authority record had to go; dropping additional
// records alone does not set it (RFC 2181 §9). The question and the OPT
// record always stay. m's sections are left as sent.
func (s *scratch) pack(m *dns.Msg, limit int) ([]byte, error) {
	m.Compress = false
	b, err := s.packBuf(m)
	if err != nil || len(b) <= limit {
		return b, err
	}
	m.Compress = true
	b, err = s.packBuf(m)
	if err != nil || len(b) <= limit {
		return b, err
	}
	return s.truncate(m, limit)
}

func (s *scratch) packBuf(m *dns.Msg) ([]byte, error) {
	b, err := m.PackBuffer(s.buf)
	if err == nil && cap(b) > len(s.buf) {
		s.buf = b[:cap(b)] // grown by PackBuffer: keep it for the next query
	}
	return b, err
}

// truncate is the slow path of pack: a binary search per section for the
// most records that fit, each probe a real (compressed) pack, so the
// result is exact. It allocates; it runs only for oversized answers.
func (s *scratch) truncate(m *dns.Msg, limit int) ([]byte, error) {
	ans, auth := m.Answer, m.Ns
	var opt dns.RR
	extra := s.tmp[:0]
	for _, rr := range m.Extra {
		if opt == nil && rr.Header().Rrtype == dns.TypeOPT {
			opt = rr
			continue
		}
		extra = append(extra, rr)
	}
	s.tmp = extra
	set := func(a, n, e int) {
		m.Answer, m.Ns = ans[:a], auth[:n]
		m.Extra = append(m.Extra[:0], extra[:e]...)
		if opt != nil {
			m.Extra = append(m.Extra, opt)
		}
	}
	fits := func(a, n, e int) bool {
		set(a, n, e)
		b, err := s.packBuf(m)
		return err == nil && len(b) <= limit
	}
	// most returns the largest i in [0, n] with ok(i), assuming ok(0) and
	// that ok is monotone (a record never makes a message shorter).
	most := func(n int, ok func(int) bool) int {
		return sort.Search(n+1, func(i int) bool { return i > 0 && !ok(i) }) - 1
	}

	a := most(len(ans), func(i int) bool { return fits(i, 0, 0) })
	switch {
	case a < len(ans):
		m.Truncated = true
		set(a, 0, 0)
	default:
		n := most(len(auth), func(i int) bool { return fits(a, i, 0) })
		if n < len(auth) {
			m.Truncated = true
			set(a, n, 0)
			break
		}
		set(a, n, most(len(extra), func(i int) bool { return fits(a, n, i) }))
	}
	clear(s.tmp[:cap(s.tmp)]) // do not pin records of this answer in the pool
	return s.packBuf(m)
}
