package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) rttCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rtt NODE [NODE]",
		Short: "Estimate the round trip time to a node, or between two nodes",
		Long: `Estimate the round trip time between this agent and NODE, or between the
two NODEs, from network coordinates (no packet is sent).`,
		Example: "  agentctl rtt node2\n  agentctl rtt node2 node3",
		Args:    nArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			from, to := "", args[0]
			if len(args) == 2 {
				from, to = args[0], args[1]
			}
			r, err := c.RTT(cmd.Context(), from, to)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.stdout, r)
			}
			_, err = fmt.Fprintf(a.stdout, "estimated rtt from %s to %s: %.3f ms\n", cell(r.From), cell(r.To), r.Seconds*1000)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
