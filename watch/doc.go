// Package watch runs handlers when what they watch changes, like Consul's
// watches: a [[watch]] table names a key, a key prefix, a service or the
// member list, and a command. The command gets the current state as JSON
// on standard input (the same JSON the HTTP API answers) each time it
// changes.
//
// Guarantees (docs/watches.md):
//   - the handler runs once at start with the current state, then after
//     each change of the state's JSON (a change that leaves it equal, such
//     as a rewrite with the same value, runs nothing);
//   - bursts coalesce: it runs once Debounce after the last change of a
//     burst, and at the latest 10 × Debounce (at least 1 s) after its
//     first change, with the state as it is then;
//   - it never runs concurrently with itself, and a change during a run
//     causes one more run afterwards;
//   - it is killed (its whole process group) after Timeout;
//   - a failure (non-zero exit, timeout, no such program) is logged with
//     the end of its output and counted in Stats; the next change runs it
//     again;
//   - reading the state never waits for a handler, so a slow handler
//     never holds up the agent.
//
// The package never imports the agent. Manager reads the agent through
// the small interfaces KV, Catalog and Members (declared here, implemented
// by the agent's wiring), and Watch runs any Source, which is how
// `agentctl kv watch -exec` drives the same machinery over the HTTP API.
package watch
