package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/murmurhq/murmur/agent/client"
)

// KeyringOp is a change of the cluster's gossip keyring.
type KeyringOp string

// Keyring operations (serf keys, consul keyring).
const (
	// KeyringInstall adds a key every member can decrypt with.
	KeyringInstall KeyringOp = "install"
	// KeyringUse makes an installed key the one every member encrypts with.
	KeyringUse KeyringOp = "use"
	// KeyringRemove drops a key that is not primary.
	KeyringRemove KeyringOp = "remove"
)

// Keyring is the cluster-wide gossip keyring. Methods are called
// concurrently from HTTP handlers; each asks every alive member and waits
// for their answers up to a timeout.
type Keyring interface {
	// List returns every member's keys. The error wraps ErrConflict when
	// gossip is not encrypted.
	List(ctx context.Context) (client.KeyringResponse, error)
	// Change applies op with key (base64) on every member. A malformed
	// key wraps ErrBadRequest; removing this agent's primary key, or any
	// change when gossip is not encrypted, wraps ErrConflict. Members that
	// failed or did not answer are in the report, not in the error.
	Change(ctx context.Context, op KeyringOp, key string) (client.KeyringResponse, error)
}

func (s *server) keyringList(w http.ResponseWriter, r *http.Request) {
	resp, err := s.keyring.List(r.Context())
	s.keyringAnswer(w, r, resp, err)
}

func (s *server) keyringOp(op KeyringOp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req client.KeyringRequest
		if err := s.readJSON(w, r, "KeyringRequest", &req); err != nil {
			s.fail(w, r, err)
			return
		}
		if strings.TrimSpace(req.Key) == "" {
			s.fail(w, r, fmt.Errorf("%w: httpapi: key is empty, want a base64 gossip key (agentctl keygen)", ErrBadRequest))
			return
		}
		resp, err := s.keyring.Change(r.Context(), op, req.Key)
		s.keyringAnswer(w, r, resp, err)
	}
}

// keyringAnswer is 200 with the report when every member acknowledged,
// else 500 with the report and an error naming the members that did not.
func (s *server) keyringAnswer(w http.ResponseWriter, r *http.Request, resp client.KeyringResponse, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(resp.Failed) == 0 {
		writeJSON(w, r, http.StatusOK, resp)
		return
	}
	nodes := make([]string, 0, len(resp.Failed))
	for n := range resp.Failed {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	var why []string
	for _, n := range nodes {
		why = append(why, n+": "+resp.Failed[n])
	}
	resp.Error = fmt.Sprintf("keyring: %s acknowledged by %d of %d members; failed: %s",
		resp.Op, resp.Acked, resp.Members, strings.Join(why, "; "))
	s.log.Warn("keyring change not acknowledged by every member", "op", resp.Op, "acked", resp.Acked, "members", resp.Members)
	writeJSON(w, r, http.StatusInternalServerError, resp)
}
