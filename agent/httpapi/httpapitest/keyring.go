package httpapitest

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/agent/httpapi"
)

// Keyring is an in-memory httpapi.Keyring of a cluster of Members agents
// that all hold the same keys. Unanswering names members reported as
// failed ("no answer within 5s") on every change. Safe for concurrent use.
type Keyring struct {
	mu sync.Mutex
	// Members is the cluster size reported.
	Members int
	// Unanswering are members that never acknowledge.
	Unanswering []string
	keys        []string // primary first
}

var _ httpapi.Keyring = (*Keyring)(nil)

// NewKeyring returns a keyring of members agents holding primary.
func NewKeyring(members int, primary string) *Keyring {
	return &Keyring{Members: members, keys: []string{primary}}
}

// Keys returns the keys, primary first.
func (k *Keyring) Keys() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.keys)
}

func (k *Keyring) reportLocked(op string) client.KeyringResponse {
	r := client.KeyringResponse{Op: op, Members: k.Members, Acked: k.Members - len(k.Unanswering)}
	for _, n := range k.Unanswering {
		if r.Failed == nil {
			r.Failed = map[string]string{}
		}
		r.Failed[n] = "no answer within 5s"
	}
	return r
}

// List implements httpapi.Keyring.
func (k *Keyring) List(context.Context) (client.KeyringResponse, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := k.reportLocked("list")
	for i, key := range k.keys {
		kk := client.KeyringKey{Key: key, Installed: r.Acked}
		if i == 0 {
			kk.Primary = r.Acked
		}
		r.Keys = append(r.Keys, kk)
	}
	slices.SortFunc(r.Keys, func(x, y client.KeyringKey) int { return cmp.Compare(x.Key, y.Key) })
	return r, nil
}

// Change implements httpapi.Keyring.
func (k *Keyring) Change(_ context.Context, op httpapi.KeyringOp, key string) (client.KeyringResponse, error) {
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || (len(b) != 16 && len(b) != 24 && len(b) != 32) {
		return client.KeyringResponse{}, fmt.Errorf("%w: keyring: key is not base64 of 16, 24 or 32 bytes", httpapi.ErrBadRequest)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	i := slices.Index(k.keys, key)
	switch op {
	case httpapi.KeyringInstall:
		if i < 0 {
			k.keys = append(k.keys, key)
		}
	case httpapi.KeyringUse:
		if i < 0 {
			return client.KeyringResponse{}, fmt.Errorf("%w: keyring: key is not installed on this agent; install it first", httpapi.ErrConflict)
		}
		k.keys = append([]string{key}, slices.Delete(k.keys, i, i+1)...)
	case httpapi.KeyringRemove:
		if i == 0 {
			return client.KeyringResponse{}, fmt.Errorf("%w: agent: removing the primary key is refused", httpapi.ErrConflict)
		}
		if i > 0 {
			k.keys = slices.Delete(k.keys, i, i+1)
		}
	}
	return k.reportLocked(string(op)), nil
}
