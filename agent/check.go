package agent

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/murmurhq/murmur/membership"
)

// Check reports what New and Start would refuse in cfg for reasons of
// configuration, without binding a socket or writing a file: the problems
// Validate finds, gossip reachable beyond this machine without a key (a
// keyring file in data_dir counts as a key), a keyring file that does not
// decode, and TLS files that do not load. agentd -check-config runs it.
func Check(cfg Config) error {
	cfg = cfg.clone()
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
		path := filepath.Join(cfg.DataDir, keyringFile)
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			keys, err := decodeKeyringFile(b)
			if err != nil {
				return fmt.Errorf("agent: keyring file %s: %w (fix it, or delete it to start again from gossip.key)", path, err)
			}
			encrypted = encrypted || len(keys) > 0
		case !os.IsNotExist(err):
			return fmt.Errorf("agent: keyring file: %w", err)
		}
	}
	if err := cfg.checkPlaintext(encrypted); err != nil {
		return err
	}
	if cfg.HTTP.TLSCertFile != "" {
		if _, _, err := loadTLS(&cfg.HTTP); err != nil {
			return err
		}
	}
	return nil
}
