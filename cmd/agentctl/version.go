package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/murmurhq/murmur/internal/buildinfo"
)

// versionTimeout bounds how long version waits for the agent.
const versionTimeout = 2 * time.Second

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the agentctl version, and the agent's when it is reachable",
		Long: `Print agentctl's version, the commit it was built from and its Go version
(the same line agentd -version prints), then the agent's version when the
agent answers within 2s; an unreachable agent is not an error here.`,
		Example: "  agentctl version",
		Args:    nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := fmt.Fprintf(a.stdout, "agentctl %s\n", buildinfo.Read()); err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), versionTimeout)
			defer cancel()
			self, err := c.Self(ctx)
			if err != nil {
				return nil // the agent's version is shown only when reachable
			}
			_, err = fmt.Fprintf(a.stdout, "agent    %s (node %s at %s)\n", self.Version, self.Node, c.Addr())
			return err
		},
	}
}
