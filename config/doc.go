// Package config is the agent's configuration: the Config struct (one to
// one with the TOML file, docs/configuration.md), its defaults (Default,
// Dev), Validate, and reading a file with errors that name the file, the
// key and the line (LoadFile, Parse, ValidateWithSource). Unknown keys are
// errors; every error wraps ErrConfig.
//
// The agent package re-exports these names as agent.Config,
// agent.DefaultConfig, agent.LoadFile and so on (type aliases): embedding
// programs keep using those. The package validates each part's settings
// with that part's own rules (dnsserver.Config, acl, watch, catalog) and
// never imports the agent or memberlist; the agent turns the gossip
// settings into memberlist's Config.
//
// # What the caller must do
//
//   - Start from Default (or Dev), apply the file and flags, then
//     Validate or ValidateWithSource before handing the Config to
//     agent.New; Clone before changing a Config another goroutine holds.
package config
