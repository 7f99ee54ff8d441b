// Package arrows holds a test of the module's import arrows (DESIGN.md,
// docs/architecture.md): which package may import which. It has no code.
package arrows
