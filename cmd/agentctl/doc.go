// Command agentctl drives a Murmur agent over its HTTP API: cluster
// members, the replicated key/value store, services and health checks.
// docs/cli.md lists every command with an example.
//
// Each command group lives in its own file (members.go, join.go, kv.go,
// services.go, rtt.go, keygen.go, version.go) and is a method of app,
// which carries the injected environment (stdin, stdout, stderr, getenv,
// entropy) so tests run commands in-process through run against an
// httptest server. Flags are accepted with one or two dashes
// (normalizeArgs); every failure is one line "agentctl: REASON" on stderr
// and exit status 1.
package main
