package dnsserver

import (
	"strconv"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Stats are the server's counters since New, for the agent to export as
// metrics. All counts are monotonic.
type Stats struct {
	// Queries is every request the handler received (UDP and TCP).
	Queries uint64
	// Responses counts the answers sent by response code name
	// ("NOERROR", "NXDOMAIN", "REFUSED", "BADVERS", ...). Forwarded
	// answers are counted under the upstream's code.
	Responses map[string]uint64
	// Truncated counts UDP (or over-64-KiB TCP) answers sent with TC.
	Truncated uint64
	// Forwarded counts queries sent to recursors; ForwardFailed those
	// for which every recursor failed (answered SERVFAIL).
	Forwarded     uint64
	ForwardFailed uint64
	// Malformed counts packets that did not parse; miekg/dns answers them
	// FORMERR (or drops them when even the header is short) without
	// calling the handler.
	Malformed uint64
	// WriteErrors counts answers that could not be packed or sent.
	WriteErrors uint64
}

// counters are the live Stats; one atomic add per event keeps the hot
// path lock-free.
type counters struct {
	queries       atomic.Uint64
	rcodes        [24]atomic.Uint64 // index: rcode; covers every assigned code to BADCOOKIE (23)
	otherRcode    atomic.Uint64
	truncated     atomic.Uint64
	forwarded     atomic.Uint64
	forwardFailed atomic.Uint64
	malformed     atomic.Uint64
	writeErrors   atomic.Uint64
}

func (c *counters) response(rcode int) {
	if rcode >= 0 && rcode < len(c.rcodes) {
		c.rcodes[rcode].Add(1)
		return
	}
	c.otherRcode.Add(1)
}

func (c *counters) snapshot() Stats {
	st := Stats{
		Queries:       c.queries.Load(),
		Responses:     map[string]uint64{},
		Truncated:     c.truncated.Load(),
		Forwarded:     c.forwarded.Load(),
		ForwardFailed: c.forwardFailed.Load(),
		Malformed:     c.malformed.Load(),
		WriteErrors:   c.writeErrors.Load(),
	}
	for i := range c.rcodes {
		if n := c.rcodes[i].Load(); n > 0 {
			name, ok := dns.RcodeToString[i]
			if i == dns.RcodeBadVers {
				name = "BADVERS" // miekg names 16 BADSIG; we never sign
			} else if !ok {
				name = "RCODE" + strconv.Itoa(i)
			}
			st.Responses[name] += n
		}
	}
	if n := c.otherRcode.Load(); n > 0 {
		st.Responses["OTHER"] = n
	}
	return st
}
