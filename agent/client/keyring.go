package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// KeyringList asks every member for its gossip keys.
func (c *Client) KeyringList(ctx context.Context) (KeyringResponse, error) {
	return c.keyring(ctx, http.MethodGet, "/v1/keyring", nil)
}

// KeyringInstall adds key (base64) to every member's keyring.
func (c *Client) KeyringInstall(ctx context.Context, key string) (KeyringResponse, error) {
	return c.keyring(ctx, http.MethodPut, "/v1/keyring/install", &KeyringRequest{Key: key})
}

// KeyringUse makes key, installed everywhere, the one every member
// encrypts with.
func (c *Client) KeyringUse(ctx context.Context, key string) (KeyringResponse, error) {
	return c.keyring(ctx, http.MethodPut, "/v1/keyring/use", &KeyringRequest{Key: key})
}

// KeyringRemove removes key from every member's keyring; the agent refuses
// to remove a key still primary anywhere.
func (c *Client) KeyringRemove(ctx context.Context, key string) (KeyringResponse, error) {
	return c.keyring(ctx, http.MethodPut, "/v1/keyring/remove", &KeyringRequest{Key: key})
}

// keyring makes a keyring call. When some members did not acknowledge,
// it returns their report together with an *APIError (500) naming them.
func (c *Client) keyring(ctx context.Context, method, path string, in *KeyringRequest) (KeyringResponse, error) {
	req := request{method: method, path: path, allow500: true}
	if in != nil {
		b, _ := json.Marshal(in)
		req.body, req.ctype = b, "application/json"
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return KeyringResponse{}, err
	}
	defer resp.Body.Close()
	var out KeyringResponse
	if err := c.decode(ctx, resp, req, &out); err != nil {
		return out, err
	}
	if resp.StatusCode == http.StatusInternalServerError {
		msg := out.Error
		if msg == "" {
			msg = fmt.Sprintf("keyring %s failed on %d of %d members", out.Op, len(out.Failed), out.Members)
		}
		return out, &APIError{StatusCode: resp.StatusCode, Message: msg}
	}
	return out, nil
}
