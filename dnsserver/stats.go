package dnsserver

import (
	"strconv"
	"sync/atomic"
	"time"

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
	// Questions counts queries by the type of their question ("A",
	// "AAAA", "SRV", "PTR", "TXT", "SOA", "NS", "ANY", or "OTHER", and
	// "NONE" for a query without a question).
	Questions map[string]uint64
	// Latency is the time from receiving a query to handing its answer to
	// the socket (forwarded queries included), measured on one query in
	// latencySample (8): Latency.Count is about Queries / 8.
	Latency Histogram
}

// Histogram is a cumulative histogram in Prometheus' shape.
type Histogram struct {
	Count uint64
	// Sum is in seconds.
	Sum float64
	// Buckets maps each upper bound in seconds to the observations ≤ it.
	Buckets map[float64]uint64
}

// latencySample: one query in this many has its latency measured.
const latencySample = 8

// latencyBounds are the upper bounds, in seconds, of Stats.Latency.
var latencyBounds = [...]float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5}

// questionTypes are the query types counted by name; others are OTHER.
var questionTypes = [...]uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeTXT, dns.TypeSOA, dns.TypeNS, dns.TypeANY}

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
	// questions: by index in questionTypes, then OTHER, then NONE.
	questions [len(questionTypes) + 2]atomic.Uint64
	// latency buckets are not cumulative; the sum is in nanoseconds.
	latency      [len(latencyBounds) + 1]atomic.Uint64
	latencySumNs atomic.Int64
}

func (c *counters) question(req *dns.Msg) {
	if len(req.Question) == 0 {
		c.questions[len(questionTypes)+1].Add(1)
		return
	}
	qt := req.Question[0].Qtype
	for i, t := range questionTypes {
		if t == qt {
			c.questions[i].Add(1)
			return
		}
	}
	c.questions[len(questionTypes)].Add(1)
}

func (c *counters) observe(d time.Duration) {
	c.latencySumNs.Add(int64(d))
	secs := d.Seconds()
	for i, b := range latencyBounds {
		if secs <= b {
			c.latency[i].Add(1)
			return
		}
	}
	c.latency[len(latencyBounds)].Add(1)
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
	st.Questions = make(map[string]uint64, len(c.questions))
	for i, t := range questionTypes {
		st.Questions[dns.TypeToString[t]] = c.questions[i].Load()
	}
	st.Questions["OTHER"] = c.questions[len(questionTypes)].Load()
	st.Questions["NONE"] = c.questions[len(questionTypes)+1].Load()
	st.Latency = Histogram{Sum: time.Duration(c.latencySumNs.Load()).Seconds(), Buckets: make(map[float64]uint64, len(latencyBounds))}
	for i, b := range latencyBounds {
		st.Latency.Count += c.latency[i].Load()
		st.Latency.Buckets[b] = st.Latency.Count
	}
	st.Latency.Count += c.latency[len(latencyBounds)].Load()
	return st
}
