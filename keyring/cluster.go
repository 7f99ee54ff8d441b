package keyring

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/query"
)

// operate applies op on this agent and every alive or suspect member and
// gathers their answers for up to Timeout (or until ctx ends): the
// report, and the keys of each member that acknowledged.
func (k *Keyring) operate(ctx context.Context, op Op, key []byte) (client.KeyringResponse, [][][]byte, error) {
	res, err := k.cfg.Cluster.Ask(ctx, Kind, encodeRequest(op, key), Timeout)
	if err != nil {
		return client.KeyringResponse{}, nil, err
	}
	resp := client.KeyringResponse{Op: op.String(), Members: len(res)}
	failed := map[string]string{}
	var got [][][]byte
	for node, r := range res {
		var keys [][]byte
		if r.Err == nil {
			keys, r.Err = decodeAnswer(r.Answer)
		}
		var remote *query.RemoteError
		switch {
		case r.Err == nil:
			resp.Acked++
			got = append(got, keys)
		case errors.Is(r.Err, query.ErrNoAnswer):
			failed[node] = fmt.Sprintf("no answer within %v", Timeout)
		case errors.As(r.Err, &remote):
			failed[node] = remote.Msg
		default:
			failed[node] = r.Err.Error()
		}
	}
	if len(failed) > 0 {
		resp.Failed = failed
	}
	return resp, got, nil
}

// List returns every member's keys: how many members have each installed
// and use it as primary. ErrNotEncrypted when gossip is not encrypted.
func (k *Keyring) List(ctx context.Context) (client.KeyringResponse, error) {
	if k.ring == nil {
		return client.KeyringResponse{}, ErrNotEncrypted
	}
	resp, answers, err := k.operate(ctx, OpList, nil)
	if err != nil {
		return resp, err
	}
	count := map[string]*client.KeyringKey{}
	for _, keys := range answers {
		for i, key := range keys {
			s := base64.StdEncoding.EncodeToString(key)
			c := count[s]
			if c == nil {
				c = &client.KeyringKey{Key: s}
				count[s] = c
			}
			c.Installed++
			if i == 0 {
				c.Primary++
			}
		}
	}
	for _, c := range count {
		resp.Keys = append(resp.Keys, *c)
	}
	slices.SortFunc(resp.Keys, func(x, y client.KeyringKey) int { return cmp.Compare(x.Key, y.Key) })
	return resp, nil
}

// Change applies op (install, use or remove) with key on every member.
// Refused here, before any member is asked: any change while gossip is
// not encrypted (ErrNotEncrypted), using a key not installed on this
// agent, removing its primary key (ErrPrimaryKey) or a key still primary
// on any member (both wrap ErrRefused or are ErrPrimaryKey). Members that
// failed or did not answer are in the report, not in the error.
func (k *Keyring) Change(ctx context.Context, op Op, key []byte) (client.KeyringResponse, error) {
	if k.ring == nil {
		return client.KeyringResponse{}, ErrNotEncrypted
	}
	local := k.Keys()
	switch {
	case op != OpInstall && op != OpUse && op != OpRemove:
		return client.KeyringResponse{}, fmt.Errorf("keyring: %v is not a change", op)
	case op == OpUse && !containsKey(local, key):
		return client.KeyringResponse{}, fmt.Errorf("%w: key is not installed on this agent; install it first (agentctl keyring install)", ErrRefused)
	case op == OpRemove && bytes.Equal(local[0], key):
		return client.KeyringResponse{}, ErrPrimaryKey
	case op == OpRemove:
		// Refuse while any member still encrypts with the key: it would
		// drop out of the cluster.
		list, err := k.List(ctx)
		if err != nil {
			return list, err
		}
		for _, c := range list.Keys {
			if c.Key == base64.StdEncoding.EncodeToString(key) && c.Primary > 0 {
				return client.KeyringResponse{}, fmt.Errorf("%w: key is still primary on %d member(s); run agentctl keyring use with the new key first", ErrRefused, c.Primary)
			}
		}
	}
	resp, _, err := k.operate(ctx, op, key)
	if err != nil {
		return resp, err
	}
	k.log.Info("keyring operation", "op", op.String(), "members", resp.Members, "acked", resp.Acked, "failed", len(resp.Failed))
	return resp, nil
}
