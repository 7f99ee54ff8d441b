package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
	"github.com/murmurhq/murmur/insight"
	"github.com/murmurhq/murmur/keyring"
	"github.com/murmurhq/murmur/query"
)

// Cluster queries (package query) ride on the agent's gossip as msgQuery;
// the keyring and the propagation view ask them. This file is their
// wiring and the HTTP API's adapters.

// msgQuery carries query frames. Type 3 carried the keyring's own
// requests before the query package: retired, never reuse it.
const msgQuery MsgType = 4

// queryCluster gives the queries the live members and the gossip.
type queryCluster struct{ a *Agent }

var _ query.Cluster = queryCluster{}

func (c queryCluster) Members() []string {
	var out []string
	for _, m := range c.a.members.WithStatus(StatusAlive, StatusSuspect) {
		out = append(out, m.Name)
	}
	return out
}

// Send reaches any member the agent knows, even one it holds failed or
// suspect: an answer goes to whoever asked, and a passing suspicion must
// not turn a keyring change applied here into "no answer" there.
func (c queryCluster) Send(node string, f []byte, reliable bool) error {
	return c.a.send(node, msgQuery, f, reliable, true)
}

// GossipEncrypted reports whether gossip is encrypted (after Start).
func (a *Agent) GossipEncrypted() bool { return a.sec.keys.Encrypted() }

// apiKeyring adapts the keyring to httpapi.Keyring.
type apiKeyring struct{ k *keyring.Keyring }

var _ httpapi.Keyring = apiKeyring{}

func (b apiKeyring) List(ctx context.Context) (client.KeyringResponse, error) {
	resp, err := b.k.List(ctx)
	return resp, keyringError(err)
}

func (b apiKeyring) Change(ctx context.Context, op httpapi.KeyringOp, keyText string) (client.KeyringResponse, error) {
	kop, ok := map[httpapi.KeyringOp]keyring.Op{httpapi.KeyringInstall: keyring.OpInstall, httpapi.KeyringUse: keyring.OpUse, httpapi.KeyringRemove: keyring.OpRemove}[op]
	if !ok {
		return client.KeyringResponse{}, fmt.Errorf("%w: keyring: unknown operation %q", httpapi.ErrBadRequest, op)
	}
	key, err := keyring.DecodeKey(keyText)
	if err != nil {
		return client.KeyringResponse{}, fmt.Errorf("%w: keyring: key %w", httpapi.ErrBadRequest, err)
	}
	resp, err := b.k.Change(ctx, kop, key)
	return resp, keyringError(err)
}

// keyringError: a shutdown is 503, every refusal 409.
func keyringError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, query.ErrClosed):
		return fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %w", httpapi.ErrConflict, err)
}

// apiInsight adapts the insight to httpapi.Insight.
type apiInsight struct{ *insight.Insight }

var _ httpapi.Insight = apiInsight{}

func (i apiInsight) Propagation(ctx context.Context, key, version, origin string, timeout time.Duration) (client.Propagation, error) {
	p, err := i.Insight.Propagation(ctx, key, version, origin, timeout)
	switch {
	case errors.Is(err, insight.ErrInvalid):
		err = fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	case errors.Is(err, query.ErrClosed):
		err = fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
	}
	return p, err
}
