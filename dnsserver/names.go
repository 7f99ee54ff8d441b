package dnsserver

import (
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Names travel through this package in presentation format, the form
// miekg/dns unpacks a question into: labels joined by dots, special bytes
// escaped ("\." for a dot inside a label, "\DDD" for bytes outside the
// printable ASCII range). Letters are never escaped, so lower-casing the
// presentation string is DNS's case-insensitive comparison (RFC 4343).
// Lookup keys are built with the same unpacker from raw names, so a query
// and a key agree byte for byte.

const (
	maxLabel    = 63
	maxNameWire = 255 // octets of a name on the wire, root label included
)

// labelKey returns the lower-case presentation form of one raw label and
// its wire length (1 + len). ok is false for an empty or too long label.
func labelKey(raw string) (key string, wire int, ok bool) {
	if len(raw) == 0 || len(raw) > maxLabel {
		return "", 0, false
	}
	var b [maxLabel + 2]byte
	b[0] = byte(len(raw))
	copy(b[1:], raw)
	s, _, err := dns.UnpackDomainName(b[:len(raw)+2], 0)
	if err != nil {
		return "", 0, false
	}
	return strings.ToLower(s[:len(s)-1]), len(raw) + 1, true
}

// nameKey is labelKey for a dotted multi-label name such as a host name
// ("web-1.example.com"). The wire length excludes the root label.
func nameKey(raw string) (key string, wire int, ok bool) {
	var b strings.Builder
	for i, l := range strings.Split(raw, ".") {
		k, w, ok := labelKey(l)
		if !ok {
			return "", 0, false
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(k)
		wire += w
	}
	if wire >= maxNameWire {
		return "", 0, false
	}
	return b.String(), wire, true
}

// escaped reports whether s[i] is escaped, i.e. preceded by an odd number
// of backslashes. (A \DDD escape ends in a digit, so counting backslashes
// is enough.)
func escaped(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// lastDot returns the index of the last unescaped '.' in s, or -1.
func lastDot(s string) int {
	last := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // the escaped byte; \DDD digits are never dots
		case '.':
			last = i
		}
	}
	return last
}

// cutLast splits s at its last unescaped dot: "a.b.c" -> "a.b", "c".
// Without a dot head is "" and last is s.
func cutLast(s string) (head, last string) {
	i := lastDot(s)
	if i < 0 {
		return "", s
	}
	return s[:i], s[i+1:]
}

// hasLabelSuffix reports whether name ends in suffix (which starts with a
// dot) at a label boundary.
func hasLabelSuffix(name, suffix string) bool {
	i := len(name) - len(suffix)
	return i >= 0 && name[i:] == suffix && !escaped(name, i)
}

// addrHex is the label of an <hex>.addr.<domain> target: 8 hex digits for
// IPv4, 32 for IPv6 (Consul's form).
func addrHex(a netip.Addr) string {
	const digits = "0123456789abcdef"
	s := a.AsSlice()
	b := make([]byte, 0, 2*len(s))
	for _, c := range s {
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return string(b)
}

// parseAddrHex decodes an addrHex label into buf without allocating. It
// returns nil for anything but 8 or 32 hex digits.
func parseAddrHex(s string, buf *[16]byte) net.IP {
	if len(s) != 8 && len(s) != 32 {
		return nil
	}
	for i := 0; i < len(s); i += 2 {
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return nil
		}
		buf[i/2] = hi<<4 | lo
	}
	return net.IP(buf[:len(s)/2])
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f': // names are lower-cased before this
		return c - 'a' + 10, true
	}
	return 0, false
}

// reverseName is the in-addr.arpa / ip6.arpa name of a, lower case.
func reverseName(a netip.Addr) string {
	r, err := dns.ReverseAddr(a.String())
	if err != nil {
		return ""
	}
	return strings.ToLower(r)
}

// isReverse reports whether a lower-case name is under a reverse zone.
func isReverse(name string) bool {
	return strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.")
}

// txtStrings renders one node meta pair as the character-strings of a TXT
// record: "k=v" cut into 255-byte pieces, each escaped for miekg's packer
// (which reads backslash escapes).
func txtStrings(k, v string) []string {
	raw := k + "=" + v
	var out []string
	for len(raw) > 0 {
		n := min(len(raw), 255)
		out = append(out, strings.ReplaceAll(raw[:n], `\`, `\\`))
		raw = raw[n:]
	}
	return out
}
