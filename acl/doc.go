// Package acl decides what an HTTP request may do: prefix ACLs over
// Murmur's resources, resolved from the secret a request carries.
//
// The model (docs/security.md; compare Consul's ACL rules):
//
//   - A rule grants an Access (deny, read or write; write implies read) to
//     the names of one Kind that start with a prefix: KV keys, service
//     names, node names (agent), or the gossip keyring (no prefix). The
//     longest matching prefix of a token wins.
//   - A name no rule of the token matches falls back to the default: what
//     a request without a token may do (acl.default).
//   - The management token (http.token) may do everything.
//   - Secrets are compared in constant time, through their SHA-256, so
//     neither which token matched nor how much of a secret was right shows
//     in the timing.
//
// Use: build an Authorizer with New from the configuration (it is
// immutable); keep it in a Live to swap it on reload. A face (HTTP API,
// Consul-compatible API, UI) takes the secret from its own header, calls
// Resolver.Resolve once per request, and asks the Identity before acting:
//
//	id, err := resolver.Resolve(secret) // ErrUnknownToken for a bad secret: 401/403
//	if err := id.Allow(acl.KindKV, key, acl.Write); err != nil {
//		// err is a *DeniedError naming the missing permission, never the
//		// secret; errors.Is(err, acl.ErrDenied)
//	}
//
// Listing answers filter with Identity.Can; a recursive write over a prefix
// asks Identity.AllowPrefix, which also refuses when a longer rule under the
// prefix takes the permission away. The package has no I/O and no clock.
package acl
