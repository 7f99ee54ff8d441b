// Package buildinfo says which build of Murmur is running: its version,
// the commit it was built from and the Go version, read from the binary's
// own build information (runtime/debug.ReadBuildInfo). agentd -version,
// agentctl version and the agent's /v1/agent/self all read it here, so
// they always agree.
//
// The version is, in order: the value set at link time with
//
//	go build -ldflags "-X github.com/murmurhq/murmur/internal/buildinfo.version=1.2.3"
//
// the module version the go command stamped (go install ...@v1.2.3, or a
// pseudo-version when built in a git checkout with VCS stamping on), else
// "dev". The commit comes from the VCS stamp (vcs.revision, with "-dirty"
// when the tree had changes), else "unknown".
package buildinfo
