// Package test holds Murmur's end-to-end tests: they build agentd and
// agentctl and run them as real processes on loopback (and, for the fault
// suite, inside network namespaces). See docs/testing.md.
package test
