// Package client is the Go client of Murmur's HTTP API (docs/http-api.md)
// and holds the API's JSON types (types.go). agentctl and programs that
// embed nothing but want to talk to a running agent use it.
//
// It imports none of agent, agent/httpapi, configsync, dnsserver or
// memberlist, so a program that only talks to an agent stays small; keep it
// that way.
//
//	c, err := client.New("127.0.0.1:7947", client.WithToken(tok))
//	...
//	pair, err := c.KVGet(ctx, "app/config")
//	if errors.Is(err, client.ErrNotFound) { ... }
//
// An agent serving HTTPS, possibly with mutual TLS:
//
//	tc, err := client.TLSConfig("ca.pem", "me.pem", "me-key.pem")
//	c, err := client.New("https://10.0.0.5:7947", client.WithTLS(tc), client.WithToken(tok))
//
// A Client is safe for concurrent use. Every method takes a context; only
// the context bounds a call (blocking queries may legitimately take
// minutes). Failures are *APIError when the agent answered with an error
// status, *UnreachableError when it could not be reached (the message
// names the address), or the context's error when the context ended.
package client
