// Package keyring is the cluster-wide gossip keyring, like `serf keys` and
// `consul keyring`: the keys memberlist encrypts gossip with (the first,
// primary) and decrypts with (any), kept in data_dir/keyring.json, and
// the operations that list, install, use and remove a key on every member.
//
// An operation is applied on this agent and asked of every alive or
// suspect member as a query (package query) of kind Kind, over reliable
// streams, stamped with the asker's clock: each member applies it once,
// saves its keyring file, then changes memberlist's ring, and answers with
// its keys; the caller gets, per member, an acknowledgement, a refusal or
// "no answer" after the timeout.
//
// Trust: a request is acted on only while gossip is encrypted — then
// memberlist has already authenticated it with a key of the ring — and
// only within two minutes of its sender's clock, once per id (the query's
// Window), so a captured request cannot be replayed later.
//
// The file format is Serf's and Consul's: a JSON array of base64 keys,
// primary first. It wins over gossip.key once it exists, so rotated keys
// survive restarts.
//
// # What the caller (the agent) must do
//
//   - New with the node name, data_dir, gossip.key and the Cluster (the
//     agent's query.Queries) before the queries run; New registers the
//     keyring's query kind.
//   - Open before memberlist is created, and give the ring it returns
//     (nil: gossip is not encrypted) to memberlist's Config.Keyring.
//   - Serve the HTTP API's keyring with List and Change.
package keyring
