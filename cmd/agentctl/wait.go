package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/murmurhq/murmur/agent/client"
)

// waitPoll is how often wait asks the agent again.
const waitPoll = 100 * time.Millisecond

// waitFor is what agentctl wait waits for, beyond an answering API.
type waitFor struct {
	members int    // at least this many alive members
	service string // a passing instance of this service
	key     string // this key exists
	timeout time.Duration
}

func (a *app) waitCmd() *cobra.Command {
	var w waitFor
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Wait until the agent answers (and, with flags, until the cluster is ready)",
		Long: `Wait until the agent's HTTP API answers, polling every 100ms: for scripts
that start agentd in the background and use it next. With flags, wait also
until at least N members are alive (-members N), until service NAME has a
passing instance on a live node (-service NAME: then DNS answers for it),
and until KEY exists in the store (-key KEY: a write made on another agent
has arrived here). Prints one line when ready; exits 1 naming what was
still missing when -timeout passes (0: wait forever).`,
		Example: `  agentd -dev 2> agent.log &
  agentctl wait
  agentctl wait -members 3 -timeout 2m
  agentctl wait -service web && dig @127.0.0.1 -p 8600 web.service.murmur`,
		Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if w.members < 0 {
				return fmt.Errorf("-members %d is negative", w.members)
			}
			if w.timeout < 0 {
				return fmt.Errorf("-timeout %s is negative", w.timeout)
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if w.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, w.timeout)
				defer cancel()
			}
			ready, err := w.poll(ctx, c)
			if err != nil {
				if cmd.Context().Err() != nil {
					return cmd.Context().Err() // interrupted
				}
				return fmt.Errorf("timed out after %s waiting for the agent at %s: %w", w.timeout, c.Addr(), err)
			}
			_, err = fmt.Fprintln(a.stdout, ready)
			return err
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&w.members, "members", 0, "also wait until at least N members are alive")
	fl.StringVar(&w.service, "service", "", "also wait until service NAME has a passing instance")
	fl.StringVar(&w.key, "key", "", "also wait until KEY exists")
	fl.DurationVar(&w.timeout, "timeout", time.Minute, "give up after this long (0: never)")
	return cmd
}

// poll checks the conditions every waitPoll until all hold, and returns
// the ready line; when ctx ends it returns the last unmet condition.
func (w waitFor) poll(ctx context.Context, c *client.Client) (string, error) {
	t := time.NewTicker(waitPoll)
	defer t.Stop()
	var last error
	for {
		ready, err := w.check(ctx, c)
		if err == nil {
			return ready, nil
		}
		if ctx.Err() == nil || last == nil { // not an answer cut short by the deadline
			last = err
		}
		select {
		case <-ctx.Done():
			return "", last
		case <-t.C:
		}
	}
}

// check asks the agent once; the error says what is not ready yet.
func (w waitFor) check(ctx context.Context, c *client.Client) (string, error) {
	self, err := c.Self(ctx)
	if err != nil {
		var unreachable *client.UnreachableError
		if errors.As(err, &unreachable) {
			return "", fmt.Errorf("no answer (%s)", unreachable.Reason())
		}
		return "", fmt.Errorf("no answer (%s)", errorLine(err))
	}
	parts := []string{fmt.Sprintf("agent %s is ready at %s", self.Node, c.Addr())}
	if w.members > 0 {
		ms, err := c.Members(ctx, "alive")
		if err != nil {
			return "", fmt.Errorf("members: %s", errorLine(err))
		}
		if len(ms) < w.members {
			return "", fmt.Errorf("%s alive, want %d", plural(len(ms), "member"), w.members)
		}
		parts = append(parts, plural(len(ms), "member")+" alive")
	}
	if w.service != "" {
		insts, err := c.Service(ctx, w.service, true)
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			return "", fmt.Errorf("service %s: %s", cell(w.service), errorLine(err))
		}
		if len(insts) == 0 {
			return "", fmt.Errorf("service %s has no passing instance", cell(w.service))
		}
		parts = append(parts, fmt.Sprintf("service %s passing", cell(w.service)))
	}
	if w.key != "" {
		if _, err := c.KVGet(ctx, w.key); err != nil {
			if errors.Is(err, client.ErrNotFound) {
				return "", fmt.Errorf("key %s not found", cell(w.key))
			}
			return "", fmt.Errorf("key %s: %s", cell(w.key), errorLine(err))
		}
		parts = append(parts, "key "+cell(w.key)+" present")
	}
	return strings.Join(parts, ", "), nil
}
