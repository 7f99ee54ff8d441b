package main

import (
	"context"
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
	cmd.AddCommand(
		a.keyringSub("list", "List the keys installed on the members", 0,
			func(c *client.Client, cmd *cobra.Command, _ []string) (client.KeyringResponse, error) {
				return c.KeyringList(cmd.Context())
			},
			func(r client.KeyringResponse) error {
				rows := make([][]string, 0, len(r.Keys))
				for _, k := range r.Keys {
					rows = append(rows, []string{k.Key, fmt.Sprintf("%d/%d", k.Installed, r.Members), fmt.Sprintf("%d/%d", k.Primary, r.Members)})
				}
				return printTable(a.stdout, []string{"KEY", "INSTALLED", "PRIMARY"}, rows)
			}),
		a.keyringChange("install", "Install a key on every member (they decrypt with it)", "installed", (*client.Client).KeyringInstall),
		a.keyringChange("use", "Make an installed key the one every member encrypts with", "now using", (*client.Client).KeyringUse),
		a.keyringChange("remove", "Remove a key that no member uses as primary", "removed", (*client.Client).KeyringRemove),
	)
	return cmd
}

// keyringChange is the command of one keyring change.
func (a *app) keyringChange(use, short, done string, call func(*client.Client, context.Context, string) (client.KeyringResponse, error)) *cobra.Command {
	return a.keyringSub(use, short, 1,
		func(c *client.Client, cmd *cobra.Command, args []string) (client.KeyringResponse, error) {
			return call(c, cmd.Context(), args[0])
		},
		func(r client.KeyringResponse) error {
			_, err := fmt.Fprintf(a.stdout, "%s the key on %d of %d members\n", done, r.Acked, r.Members)
			return err
		})
}

// keyringSub runs call and prints its report with show, or as JSON. A
// report of members that failed is printed (with -json) and is an error.
func (a *app) keyringSub(use, short string, nargs int,
	call func(*client.Client, *cobra.Command, []string) (client.KeyringResponse, error),
	show func(client.KeyringResponse) error) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  nArgs(nargs, nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			r, err := call(c, cmd, args)
			switch {
			case err != nil && r.Op == "":
				return err
			case asJSON:
				if perr := printJSON(a.stdout, r); perr != nil {
					return perr
				}
			case err == nil || use == "list":
				if perr := show(r); perr != nil {
					return perr
				}
			}
			return err
		},
	}
	if nargs == 1 {
		c.Use += " KEY"
		c.Example = "  agentctl keyring " + use + " pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
	} else {
		c.Example = "  agentctl keyring " + use
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the agent's KeyringResponse as JSON")
	return c
}
