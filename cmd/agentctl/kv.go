package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/murmurhq/murmur/agent/client"
	"github.com/murmurhq/murmur/watch"
)

func (a *app) kvCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kv",
		Short: "Read and write the replicated key/value store",
		Long: `Read and write the replicated key/value store. Reads are answered by the
local agent and are eventually consistent; writes return once durable on
the local agent and then spread by gossip.`,
		Args: a.groupArgs,
		RunE: a.groupHelp,
	}
	cmd.AddCommand(a.kvGetCmd(), a.kvPutCmd(), a.kvDeleteCmd(), a.kvListCmd(), a.kvWatchCmd())
	return cmd
}

func (a *app) kvGetCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value",
		Long: `Print the value of KEY exactly as stored (no newline is added), or the
whole entry (value in base64, version, origin, index, flags) with -json.`,
		Example: "  agentctl kv get app/config > config.json\n  agentctl kv get app/config -json",
		Args:    nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			key := args[0]
			notFound := func(err error) error {
				if errors.Is(err, client.ErrNotFound) {
					return fmt.Errorf("key %s not found", cell(key))
				}
				return err
			}
			if asJSON {
				p, err := c.KVGet(cmd.Context(), key)
				if err != nil {
					return notFound(err)
				}
				return printJSON(a.stdout, p)
			}
			v, err := c.KVGetRaw(cmd.Context(), key)
			if err != nil {
				return notFound(err)
			}
			_, err = a.stdout.Write(v)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole entry as JSON")
	return cmd
}

func (a *app) kvPutCmd() *cobra.Command {
	var flags uint64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Write a key",
		Long: `Write VALUE to KEY. VALUE "-" reads the value from standard input and
"@PATH" from a file; to store a literal that starts with "@" or "-", pipe
it through standard input.`,
		Example: "  agentctl kv put app/mode blue\n  agentctl kv put app/config @config.json\n  echo -n secret | agentctl kv put app/secret -",
		Args:    nArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			value, err := a.readValue(args[1])
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			p, err := c.KVPut(cmd.Context(), args[0], value, flags)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.stdout, p)
			}
			_, err = fmt.Fprintf(a.stdout, "wrote %s (%s, version %s)\n", cell(p.Key), plural(len(value), "byte"), p.Version)
			return err
		},
	}
	cmd.Flags().Uint64Var(&flags, "flags", 0, "opaque number stored with the key")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the written entry as JSON")
	return cmd
}

// readValue resolves a kv put VALUE argument: "-" is stdin, "@PATH" a file.
func (a *app) readValue(arg string) ([]byte, error) {
	switch {
	case arg == "-":
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, fmt.Errorf("reading the value from standard input: %w", err)
		}
		return b, nil
	case strings.HasPrefix(arg, "@"):
		b, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("reading the value: %w", err)
		}
		return b, nil
	}
	return []byte(arg), nil
}

func (a *app) kvDeleteCmd() *cobra.Command {
	var recurse bool
	cmd := &cobra.Command{
		Use:     "delete KEY",
		Short:   "Delete a key, or every key under a prefix",
		Example: "  agentctl kv delete app/mode\n  agentctl kv delete -recurse app/",
		Args:    nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			n, err := c.KVDelete(cmd.Context(), args[0], recurse)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "deleted %s\n", plural(n, "key"))
			return err
		},
	}
	cmd.Flags().BoolVar(&recurse, "recurse", false, "delete every key that starts with KEY")
	return cmd
}

func (a *app) kvListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [PREFIX]",
		Short: "List the keys under a prefix",
		Long: `Print the keys that start with PREFIX (all keys without one), one per
line and sorted, or the entries with their values as a JSON array with -json.`,
		Example: "  agentctl kv list app/\n  agentctl kv list app/ -json",
		Args:    nArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			if asJSON {
				pairs, err := c.KVList(cmd.Context(), prefix)
				if err != nil {
					return err
				}
				return printJSON(a.stdout, pairs)
			}
			keys, err := c.KVKeys(cmd.Context(), prefix)
			if err != nil {
				return err
			}
			var out strings.Builder
			for _, k := range keys {
				out.WriteString(cell(k))
				out.WriteByte('\n')
			}
			_, err = io.WriteString(a.stdout, out.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the entries as JSON")
	return cmd
}

func (a *app) kvWatchCmd() *cobra.Command {
	var asJSON bool
	var exec string
	var timeout, debounce time.Duration
	cmd := &cobra.Command{
		Use:   "watch [PREFIX]",
		Short: "Print the keys under a prefix, then every change, until interrupted",
		Long: `Print every key under PREFIX as KEY=VALUE, then each change as it happens:
KEY=VALUE for a new or changed key, "KEY deleted" for a deleted one. With
-json each line is a JSON object (deleted keys carry "deleted": true).
Control characters and invalid UTF-8 in keys and values are printed as Go
escapes (\n, \t, \x01), so each change is one line. A watcher sees the
latest state, not necessarily every intermediate value. Interrupt (Ctrl-C)
ends it with exit status 0.

With -exec CMD it runs CMD (through /bin/sh -c) instead of printing: once
at start and after each change, with the pairs under PREFIX as a JSON
array on standard input (values in base64, as the HTTP API answers),
like a [[watch]] of type keyprefix (docs/watches.md): bursts of changes
coalesce (-debounce), CMD never runs twice at once, and is killed after
-timeout. Its failures are reported on standard error; the watch goes on.`,
		Example: "  agentctl kv watch app/\n  agentctl kv watch app/ -exec 'jq -r .[].key > /tmp/keys'",
		Args:    nArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			if exec != "" {
				return a.kvWatchExec(cmd.Context(), c, prefix, exec, timeout, debounce)
			}
			err = c.KVWatch(cmd.Context(), prefix, func(ev client.KVEvent) error {
				var line string
				switch {
				case asJSON:
					b, err := json.Marshal(ev)
					if err != nil {
						return err
					}
					line = string(b)
				case ev.Deleted:
					line = cell(ev.Key) + " deleted"
				default:
					line = cell(ev.Key) + "=" + cell(string(ev.Value))
				}
				_, err := fmt.Fprintln(a.stdout, line)
				return err
			})
			if errors.Is(err, context.Canceled) && cmd.Context().Err() != nil {
				return nil // interrupted: the normal end of a watch
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per change")
	cmd.Flags().StringVar(&exec, "exec", "", "run this shell command with the pairs as JSON on stdin after each change")
	cmd.Flags().DurationVar(&timeout, "timeout", watch.DefaultTimeout, "with -exec: kill the command after this long")
	cmd.Flags().DurationVar(&debounce, "debounce", watch.DefaultDebounce, "with -exec: wait this long without changes before running")
	return cmd
}

// kvWatchExec runs command on every change under prefix, with the
// machinery of the agent's [[watch]] handlers over blocking queries.
func (a *app) kvWatchExec(ctx context.Context, c *client.Client, prefix, command string, timeout, debounce time.Duration) error {
	def := watch.Definition{
		Name: "kv watch " + prefix, Type: watch.TypeKeyPrefix, Prefix: prefix,
		Handler: []string{"/bin/sh", "-c", command},
		Timeout: client.Duration(timeout), Debounce: client.Duration(debounce),
	}
	if timeout <= 0 || debounce < 0 {
		return errors.New("-timeout must be positive and -debounce not negative")
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	err := watch.NewWatch(def, &kvSource{c: c, prefix: prefix}, log).Run(ctx)
	if errors.Is(err, context.Canceled) || err == nil && ctx.Err() != nil {
		return nil // interrupted: the normal end of a watch
	}
	return err
}

// kvSource reads the pairs under a prefix with blocking queries.
type kvSource struct {
	c      *client.Client
	prefix string
	index  uint64
	read   bool
}

func (s *kvSource) Next(ctx context.Context) (any, error) {
	var pairs []client.KVPair
	var err error
	if !s.read {
		pairs, s.index, err = s.c.KVListIndex(ctx, s.prefix)
		s.read = true
	} else {
		pairs, s.index, err = s.c.KVListWait(ctx, s.prefix, s.index, 0)
	}
	return pairs, err
}
