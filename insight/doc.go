// Package insight is the operator's view of the replicated store: the
// recent history of changes this agent applied, and the propagation of a
// key across the cluster — which version every live agent holds and when
// it applied it (the UI's propagation view, GET /v1/agent/propagation).
//
// Propagation asks every member a query (package query) of kind Kind, in
// one UDP packet each way: the question is the key, the answer the
// version held, whether it is a tombstone and when it was applied, as
// far as the member remembers. A lost packet shows as a member that did
// not answer; the UI asks again.
//
// It reads the store through Store (a *configsync.Store) and converts to
// the HTTP API's wire types (agent/client), as the watch package does.
//
// # What the caller (the agent) must do
//
//   - New with the store and the agent's query.Queries, before the
//     queries run and before memberlist is created; New registers Kind.
//   - Serve the HTTP API's insight with History and Propagation; map
//     ErrInvalid to a 400.
package insight
