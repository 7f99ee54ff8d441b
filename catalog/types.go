package catalog

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// Status is a member's state as users see it.
type Status uint8

// Member states. The zero value is never served.
const (
	StatusUnknown Status = iota
	StatusAlive
	// StatusSuspect: this agent's failure detector has heard nothing from
	// the member for a while (see docs/memberlist-notes.md); advisory.
	StatusSuspect
	// StatusFailed: memberlist declared the member dead without a leave.
	StatusFailed
	// StatusLeft: the member left gracefully.
	StatusLeft
)

var statusNames = [...]string{"unknown", "alive", "suspect", "failed", "left"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", s)
}

// Live reports whether instances on a node in this state are served:
// alive or suspect.
func (s Status) Live() bool { return s == StatusAlive || s == StatusSuspect }

// ParseStatus reads "alive", "suspect", "failed" or "left".
func ParseStatus(s string) (Status, error) {
	for i, n := range statusNames[1:] {
		if s == n {
			return Status(i + 1), nil
		}
	}
	return StatusUnknown, fmt.Errorf("catalog: unknown member status %q (want alive, suspect, failed or left)", s)
}

// Health is a service instance's check state.
type Health uint8

// Health states. The zero value is never served.
const (
	HealthUnknown Health = iota
	HealthPassing
	HealthWarning
	HealthCritical
)

var healthNames = [...]string{"unknown", "passing", "warning", "critical"}

func (h Health) String() string {
	if int(h) < len(healthNames) {
		return healthNames[h]
	}
	return fmt.Sprintf("health(%d)", h)
}

// ParseHealth reads "passing", "warning" or "critical".
func ParseHealth(s string) (Health, error) {
	for i, n := range healthNames[1:] {
		if s == n {
			return Health(i + 1), nil
		}
	}
	return HealthUnknown, fmt.Errorf("catalog: unknown health %q (want passing, warning or critical)", s)
}

// Node is one member of the cluster: the one type the membership table,
// the catalog, DNS and the HTTP face share. Values are copies; Meta and
// Coord must not be modified once handed out.
type Node struct {
	// Name is the member name (at most 128 bytes of letters, digits, '-',
	// '_' and '.'; dots separate DNS labels).
	Name string
	// Addr and Port are the member's gossip address; Addr is the address
	// of its services unless they name their own.
	Addr   netip.Addr
	Port   uint16
	Status Status
	// Meta is the node's user metadata ([meta] in its config).
	Meta map[string]string
	// Protocol is the memberlist protocol version the member speaks.
	Protocol uint8
	// Since is when Status last changed, by this agent's clock.
	Since time.Time
	// Coord is the member's network coordinate; nil when unknown.
	Coord *coordinate.Coordinate
}

// AddrPort is Addr:Port.
func (n Node) AddrPort() netip.AddrPort { return netip.AddrPortFrom(n.Addr, n.Port) }

// Instance is one service instance in the catalog.
type Instance struct {
	// ID identifies the instance on its node.
	ID string
	// Service is the service name, lower case: names are compared as DNS
	// compares them, so "Web" and "WEB" are one service "web".
	Service string
	// Node is the name of the node that registered the instance.
	Node string
	// Addr is the service's own address; invalid means the node's.
	Addr   netip.Addr
	Port   uint16
	Tags   []string
	Meta   map[string]string
	Health Health
	// Output is the last check output (error text, HTTP status).
	Output string
}
