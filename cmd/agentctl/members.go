package main

import (
	"cmp"
	"net"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/murmurhq/murmur/agent/client"
)

func (a *app) membersCmd() *cobra.Command {
	var status string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the cluster members",
		Long: `List the cluster members the agent knows, sorted by name, as a table
NAME ADDRESS STATUS META, or as a JSON array with -json.`,
		Example: "  agentctl members\n  agentctl members -status alive -json",
		Args:    nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			ms, err := c.Members(cmd.Context(), status)
			if err != nil {
				return err
			}
			slices.SortFunc(ms, func(x, y client.Member) int { return cmp.Compare(x.Name, y.Name) })
			if asJSON {
				if ms == nil {
					ms = []client.Member{}
				}
				return printJSON(a.stdout, ms)
			}
			rows := make([][]string, 0, len(ms))
			for _, m := range ms {
				rows = append(rows, []string{cell(m.Name), net.JoinHostPort(m.Address, strconv.Itoa(int(m.Port))), m.Status, kvList(m.Meta)})
			}
			return printTable(a.stdout, []string{"NAME", "ADDRESS", "STATUS", "META"}, rows)
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only members in this status: alive, suspect, failed or left")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
