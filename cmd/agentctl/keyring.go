package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/murmurhq/murmur/agent/client"
)

func (a *app) keyringCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keyring",
		Short: "List and rotate the cluster's gossip encryption keys",
		Long: `List and rotate the gossip encryption keys of every member, like
serf keys and consul keyring. Each command asks every alive member and
reports how many acknowledged; it fails (exit 1) naming each member that
did not. Rotate a key in three steps:

  agentctl keyring install NEW   # every member can now decrypt with NEW
  agentctl keyring use NEW       # every member now encrypts with NEW
  agentctl keyring remove OLD    # OLD no longer opens the cluster

Each member saves its keyring in its data_dir (keyring.json), which wins
over gossip.key on restart. Removing a key still primary anywhere is
refused.`,
		Args: a.groupArgs,
		RunE: a.groupHelp,
	}
	var asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the keys installed on the members",
		Example: "  agentctl keyring list",
		Args:    nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			r, err := c.KeyringList(cmd.Context())
			if err != nil && r.Op == "" {
				return err
			}
			if asJSON {
				if perr := printJSON(a.stdout, r); perr != nil {
					return perr
				}
				return err
			}
			rows := make([][]string, 0, len(r.Keys))
			for _, k := range r.Keys {
				rows = append(rows, []string{k.Key, fmt.Sprintf("%d/%d", k.Installed, r.Members), fmt.Sprintf("%d/%d", k.Primary, r.Members)})
			}
			if perr := printTable(a.stdout, []string{"KEY", "INSTALLED", "PRIMARY"}, rows); perr != nil {
				return perr
			}
			return err
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the agent's KeyringResponse as JSON")
	change := func(use, short, done string, call func(*client.Client, *cobra.Command, string) (client.KeyringResponse, error)) *cobra.Command {
		var asJSON bool
		c := &cobra.Command{
			Use:     use + " KEY",
			Short:   short,
			Example: "  agentctl keyring " + use + " pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=",
			Args:    nArgs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := a.client(cmd)
				if err != nil {
					return err
				}
				r, err := call(c, cmd, args[0])
				if err != nil && r.Op == "" {
					return err
				}
				if asJSON {
					if perr := printJSON(a.stdout, r); perr != nil {
						return perr
					}
					return err
				}
				if err == nil {
					_, err = fmt.Fprintf(a.stdout, "%s the key on %d of %d members\n", done, r.Acked, r.Members)
				}
				return err
			},
		}
		c.Flags().BoolVar(&asJSON, "json", false, "print the agent's KeyringResponse as JSON")
		return c
	}
	cmd.AddCommand(list,
		change("install", "Install a key on every member (they decrypt with it)", "installed",
			func(c *client.Client, cmd *cobra.Command, k string) (client.KeyringResponse, error) {
				return c.KeyringInstall(cmd.Context(), k)
			}),
		change("use", "Make an installed key the one every member encrypts with", "now using",
			func(c *client.Client, cmd *cobra.Command, k string) (client.KeyringResponse, error) {
				return c.KeyringUse(cmd.Context(), k)
			}),
		change("remove", "Remove a key that no member uses as primary", "removed",
			func(c *client.Client, cmd *cobra.Command, k string) (client.KeyringResponse, error) {
				return c.KeyringRemove(cmd.Context(), k)
			}),
	)
	return cmd
}
