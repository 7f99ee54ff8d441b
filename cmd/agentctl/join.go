package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) joinCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "join ADDR...",
		Short:   "Join the agent to a cluster through one or more members",
		Long:    "Ask the agent to join the cluster through the members at ADDR (HOST:PORT of their gossip port). It succeeds when at least one answers, and lists those that did not and why.",
		Example: "  agentctl join 10.0.0.2:7946 10.0.0.3:7946",
		Args:    nArgs(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			jr, err := c.Join(cmd.Context(), args)
			if err != nil {
				return err
			}
			var out strings.Builder
			fmt.Fprintf(&out, "joined through %d of %d addresses\n", jr.Joined, len(args))
			if len(jr.Failed) > 0 {
				out.WriteString("these did not answer:\n")
				for _, f := range jr.Failed {
					fmt.Fprintf(&out, "  %s\n", cell(f))
				}
			}
			_, err = io.WriteString(a.stdout, out.String())
			return err
		},
	}
}

func (a *app) leaveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "leave",
		Short:   "Make the agent leave the cluster gracefully and shut down",
		Example: "  agentctl leave",
		Args:    nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if err := c.Leave(cmd.Context()); err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.stdout, "left the cluster; the agent is shutting down")
			return err
		},
	}
}
