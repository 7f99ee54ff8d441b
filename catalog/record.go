package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// The replicated form. Each agent publishes each of its local instances as
// one configsync key in its own namespace, Prefix + node + "/" + id, whose
// value is the JSON record below; services and their health replicate by
// the same mechanism as all other state. Only the owner writes its
// namespace, except for the one agent that deletes the namespace of a
// reaped node (reap.go); the owner re-asserts what it really runs
// whenever anything else appears there.

// Prefix is the reserved configsync namespace of the service catalog.
const Prefix = "_murmur/svc/"

// Key is the configsync key of instance id on node.
func Key(node, id string) string { return Prefix + node + "/" + id }

// nodePrefix is the namespace of one node.
func nodePrefix(node string) string { return Prefix + node + "/" }

// splitKey parses a key under Prefix.
func splitKey(key string) (node, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return "", "", false
	}
	node, id, ok = strings.Cut(rest, "/")
	return node, id, ok && node != "" && id != ""
}

// record is the replicated value of one instance. Its JSON field names are
// a wire format shared with older agents: never rename one.
type record struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Address string            `json:"address,omitempty"`
	Port    int               `json:"port,omitempty"`
	Tags    []string          `json:"tags,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Health  string            `json:"health"`
	Output  string            `json:"output,omitempty"`
}

func encodeRecord(def Definition, h Health, output string) []byte {
	b, _ := json.Marshal(record{
		ID: def.ID, Name: def.Name, Address: def.Address, Port: def.Port,
		Tags: def.Tags, Meta: def.Meta, Health: h.String(), Output: output,
	})
	return b
}

var errBadRecord = errors.New("catalog: malformed service record")

// decodeRecord turns a replicated record into an Instance. The bytes come
// from the network: anything that does not fit the model is an error
// naming the key, never a panic. An unknown health reads as critical, so
// a newer agent's state is never served by mistake.
func decodeRecord(key string, value []byte) (Instance, error) {
	node, id, ok := splitKey(key)
	if !ok {
		return Instance{}, fmt.Errorf("%w: key %q: want %s<node>/<id>", errBadRecord, key, Prefix)
	}
	var r record
	if err := json.Unmarshal(value, &r); err != nil {
		return Instance{}, fmt.Errorf("%w: key %q: %w", errBadRecord, key, err)
	}
	if err := checkLabel(r.Name); err != nil {
		return Instance{}, fmt.Errorf("%w: key %q: name: %w", errBadRecord, key, err)
	}
	if r.Port < 0 || r.Port > 65535 {
		return Instance{}, fmt.Errorf("%w: key %q: port %d", errBadRecord, key, r.Port)
	}
	in := Instance{
		ID: id, Service: strings.ToLower(r.Name), Node: node, Port: uint16(r.Port),
		Tags: r.Tags, Meta: r.Meta, Output: r.Output,
	}
	if r.Address != "" {
		a, err := netip.ParseAddr(r.Address)
		if err != nil {
			return Instance{}, fmt.Errorf("%w: key %q: address %q", errBadRecord, key, r.Address)
		}
		in.Addr = a.Unmap()
	}
	h, err := ParseHealth(r.Health)
	if err != nil {
		h = HealthCritical
	}
	in.Health = h
	return in, nil
}
