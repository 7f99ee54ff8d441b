// Package httpapitest provides Backend, an in-memory implementation of the
// httpapi backend interfaces (Membership, KV, Services) for tests of the
// HTTP API, its client and agentctl, served through httpapi.New and
// httptest.NewServer. It is deterministic: versions and times derive from
// a counter, not the clock. Backend.Fail injects an error into any method
// that returns one; Waits records blocking queries so a test can poll
// until one has reached the store instead of sleeping.
package httpapitest
