package agent

import (
	"fmt"

	"github.com/murmurhq/murmur/keyring"
	"github.com/murmurhq/murmur/membership"
)

// Check reports what New and Start would refuse in cfg for reasons of
// configuration, without binding a socket or writing a file: the problems
// Validate finds, gossip reachable beyond this machine without a key (a
// keyring file in data_dir counts as a key), a keyring file that does not
// decode, and TLS files that do not load. agentd -check-config runs it.
func Check(cfg Config) error {
	cfg = cfg.Clone()
	if cfg.Gossip.Profile == "" {
		cfg.Gossip.Profile = "lan" // as New does
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if _, err := membership.EncodeMeta(cfg.Meta); err != nil {
		return fmt.Errorf("%w: meta: %w", ErrConfig, err)
	}
	encrypted := cfg.Gossip.Key != ""
	if cfg.DataDir != "" {
		keys, err := keyring.Load(cfg.DataDir) // names the file and the fix
		if err != nil {
			return err
		}
		encrypted = encrypted || len(keys) > 0
	}
	if err := cfg.CheckPlaintext(encrypted); err != nil {
		return err
	}
	if cfg.HTTP.TLSCertFile != "" {
		if _, _, err := loadTLS(&cfg.HTTP); err != nil {
			return err
		}
	}
	return nil
}
