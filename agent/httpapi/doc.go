// Package httpapi serves Murmur's HTTP API (docs/http-api.md): the JSON
// face through which agentctl and programs read the cluster, the replicated
// key/value store and the service catalog, and make writes.
//
// The package never imports the agent. It consumes three small interfaces
// declared in backend.go — Membership, KV and Services — which the agent
// implements; New wires them to routes and returns an http.Handler. Any of
// them may be nil: the routes of a missing backend answer 501 with a JSON
// error naming the missing part, and GET /metrics is 404 unless a metrics
// handler is given.
//
// Backends report failures by wrapping the exported sentinels
// (ErrNotFound, ErrBadRequest, ErrTooLarge, ErrForbidden, ErrConflict,
// ErrUnavailable), for example
//
//	fmt.Errorf("%w: %w", httpapi.ErrTooLarge, err)
//
// and the handler turns them into 404, 400, 413, 403, 409 and 503; any
// other error is 500. The JSON error text is the error's message with a
// leading sentinel text ("httpapi: too large: ") removed, since the status
// code already says it, so the backend's own words reach the user.
//
// Every request passes the Host check first (HostPolicy: DNS rebinding),
// then its token (X-Murmur-Token or Authorization: Bearer) is resolved
// with Options.ACL (package acl) and each route checks the permission it
// needs; listings drop what the token may not read. Without ACL,
// Options.Token alone guards writes. Blocking queries are bounded by a
// Gate (429 beyond). The KV prefix ReservedPrefix ("_murmur/") holds the
// agents' service catalog and is read-only here.
//
// Serve and ServeWith run the handler on a listener with sane timeouts, a
// graceful shutdown that also releases blocking queries, optional TLS and
// connection limits (ConnLimits: 429 with Retry-After beyond them). Other
// faces served beside this one (a Consul-compatible API, a UI) share the
// agent's HostPolicy, Gate and acl.Resolver.
package httpapi
