// Package consulapi serves a documented subset of Consul's HTTP API
// (docs/consul-compat.md) on the agent's second listener, consul_api.addr,
// so that consul-template, Prometheus's consul_sd_configs, the official Go
// client github.com/hashicorp/consul/api and other Consul tools work
// against a Murmur agent unchanged.
//
// It is a second encoding of the backend the native API (agent/httpapi)
// uses: it consumes the small interfaces of backend.go (KV, Catalog,
// Agent), which the agent implements with the same adapters, and never
// imports the agent. Answers have Consul's JSON shapes and headers
// (X-Consul-Index, X-Consul-KnownLeader, X-Consul-LastContact); errors are
// Consul's plain text. Every read supports Consul's blocking queries
// (?index, ?wait).
//
// What cannot be honest over last-writer-wins gossip — ?cas, ?acquire,
// ?release, /v1/txn, sessions — is refused with 501 and the reason, never
// emulated on one agent. Options.Authorize maps X-Consul-Token (or
// ?token=, or Authorization: Bearer) onto Murmur's tokens; Options.Explain
// maps backend errors onto status codes; ending Options.Context releases
// blocking queries at shutdown.
package consulapi
