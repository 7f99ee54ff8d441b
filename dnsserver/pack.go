package dnsserver

import (
	"encoding/binary"
	"sort"

	"github.com/miekg/dns"
)

// Sizes of the transports.
const (
	// DefaultMaxUDPSize is the default cap of UDP answers (dns.max_udp_size)
	// and the payload size our OPT record advertises: 1232 bytes, the DNS
	// flag day 2020 value, which fits the IPv6 minimum MTU without
	// fragmentation.
	DefaultMaxUDPSize = 1232
	// readUDPSize is the buffer requests are read into.
	readUDPSize = 4096
	// maxTCPSize is the largest DNS message (RFC 1035 §4.2.2 length
	// prefix).
	maxTCPSize = dns.MaxMsgSize
)

// udpLimit is the largest UDP answer for a client that advertised size
// (0 without EDNS0: RFC 1035's 512), under our own cap.
func udpLimit(size, cap int) int {
	switch {
	case size <= dns.MinMsgSize:
		return dns.MinMsgSize
	case size > cap:
		return cap
	}
	return size
}

// pack encodes m with name compression into the scratch buffer in at most
// limit bytes, truncating whole records when it does not fit: answers
// first, then authority, then additional. TC is set when an answer or
// authority record had to go; dropping additional records alone does not
// set it (RFC 2181 §9). The question and the OPT record always stay. m's
// sections are left as sent.
func (s *scratch) pack(m *dns.Msg, limit int) ([]byte, error) {
	// An error here is most likely a message over the buffer (64 KiB):
	// truncation finds what fits, or fails too.
	if b, err := s.packBuf(m); err == nil && len(b) <= limit {
		return b, nil
	}
	return s.truncate(m, limit)
}

// packBuf packs m compressed into s.buf. miekg's Msg.PackBuffer makes a
// new compression map for every compressed message; this is the same
// encoding (dns.PackDomainName and dns.PackRR with compression on) with
// the scratch's map, cleared and reused, so it allocates nothing. Every
// record in m must be the query's own (the scratch's arenas, or a
// forwarded answer): PackRR writes each record's Rdlength.
func (s *scratch) packBuf(m *dns.Msg) ([]byte, error) {
	if s.comp == nil {
		s.comp = make(map[string]int, 64)
	}
	defer clear(s.comp) // keys are substrings of this answer's names: do not pin them
	clear(s.comp)
	if len(s.buf) < maxTCPSize {
		s.buf = make([]byte, maxTCPSize)
	}
	buf := s.buf
	if opt := m.IsEdns0(); opt != nil {
		opt.SetExtendedRcode(uint16(m.Rcode))
	} else if m.Rcode > 0xF {
		return nil, dns.ErrExtendedRcode
	}
	var bits uint16 = uint16(m.Opcode)<<11 | uint16(m.Rcode&0xF)
	for _, f := range []struct {
		set bool
		bit uint16
	}{{m.Response, 1 << 15}, {m.Authoritative, 1 << 10}, {m.Truncated, 1 << 9}, {m.RecursionDesired, 1 << 8},
		{m.RecursionAvailable, 1 << 7}, {m.Zero, 1 << 6}, {m.AuthenticatedData, 1 << 5}, {m.CheckingDisabled, 1 << 4}} {
		if f.set {
			bits |= f.bit
		}
	}
	binary.BigEndian.PutUint16(buf[0:], m.Id)
	binary.BigEndian.PutUint16(buf[2:], bits)
	binary.BigEndian.PutUint16(buf[4:], uint16(len(m.Question)))
	binary.BigEndian.PutUint16(buf[6:], uint16(len(m.Answer)))
	binary.BigEndian.PutUint16(buf[8:], uint16(len(m.Ns)))
	binary.BigEndian.PutUint16(buf[10:], uint16(len(m.Extra)))
	off := 12
	var err error
	for _, q := range m.Question {
		if off, err = dns.PackDomainName(q.Name, buf, off, s.comp, true); err != nil {
			return nil, err
		}
		if off+4 > len(buf) {
			return nil, dns.ErrBuf
		}
		binary.BigEndian.PutUint16(buf[off:], q.Qtype)
		binary.BigEndian.PutUint16(buf[off+2:], q.Qclass)
		off += 4
	}
	for _, sec := range [...][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if off, err = dns.PackRR(rr, buf, off, s.comp, true); err != nil {
				return nil, err
			}
		}
	}
	return buf[:off], nil
}

// truncate is the slow path of pack: a binary search per section for the
// most records that fit, each probe a real (compressed) pack, so the
// result is exact. It runs only for oversized answers.
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
