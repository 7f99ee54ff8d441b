package main

import (
	"encoding/base64"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// keyBytes is the size of a generated gossip key (AES-256).
const keyBytes = 32

func (a *app) keygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "keygen",
		Short:   "Print a new random gossip encryption key",
		Long:    "Print the base64 of 32 random bytes from the system's secure random source, for gossip.key. It does not contact the agent.",
		Example: "  agentctl keygen",
		Args:    nArgs(0, 0),
		RunE: func(*cobra.Command, []string) error {
			key := make([]byte, keyBytes)
			if _, err := io.ReadFull(a.rand, key); err != nil {
				return fmt.Errorf("reading random bytes: %w", err)
			}
			_, err := fmt.Fprintln(a.stdout, base64.StdEncoding.EncodeToString(key))
			return err
		},
	}
}
