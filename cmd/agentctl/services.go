package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/murmurhq/murmur/agent/client"
)

func (a *app) servicesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "services",
		Short:   "List the services in the cluster catalog",
		Long:    "List every service in the cluster catalog as a table NAME INSTANCES PASSING TAGS, sorted by name, or as JSON with -json.",
		Example: "  agentctl services",
		Args:    nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			ss, err := c.Services(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if ss == nil {
					ss = []client.ServiceSummary{}
				}
				return printJSON(a.stdout, ss)
			}
			rows := make([][]string, 0, len(ss))
			for _, s := range ss {
				rows = append(rows, []string{cell(s.Name), strconv.Itoa(s.Instances), strconv.Itoa(s.Passing), cell(strings.Join(s.Tags, ","))})
			}
			return printTable(a.stdout, []string{"NAME", "INSTANCES", "PASSING", "TAGS"}, rows)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) serviceCmd() *cobra.Command {
	var asJSON, passing bool
	cmd := &cobra.Command{
		Use:   "service NAME",
		Short: "Show a service's instances, or register and deregister local ones",
		Long: `Show the instances of service NAME as a table NODE ID ADDRESS HEALTH TAGS
(only passing instances on live nodes with -passing), or as JSON with
-json. The subcommands register and deregister service instances on this
agent.`,
		Example: "  agentctl service web\n  agentctl service web -passing -json",
		Args:    nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			insts, err := c.Service(cmd.Context(), args[0], passing)
			if errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("service %s not found", cell(args[0]))
			}
			if err != nil {
				return err
			}
			if asJSON {
				if insts == nil {
					insts = []client.ServiceInstance{}
				}
				return printJSON(a.stdout, insts)
			}
			rows := make([][]string, 0, len(insts))
			for _, i := range insts {
				health := i.Health
				if i.NodeStatus != "" && i.NodeStatus != "alive" {
					health += " (node " + i.NodeStatus + ")"
				}
				rows = append(rows, []string{cell(i.Node), cell(i.ID), net.JoinHostPort(i.Address, strconv.Itoa(i.Port)),
					health, cell(strings.Join(i.Tags, ","))})
			}
			return printTable(a.stdout, []string{"NODE", "ID", "ADDRESS", "HEALTH", "TAGS"}, rows)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&passing, "passing", false, "only passing instances on live nodes")
	cmd.AddCommand(a.registerCmd(), a.deregisterCmd())
	return cmd
}

// registerFlags are the flags of service register.
type registerFlags struct {
	file      string
	def       client.ServiceDefinition
	meta      []string
	checkTCP  string
	checkHTTP string
	checkTTL  time.Duration
	interval  time.Duration
	timeout   time.Duration
}

func (a *app) registerCmd() *cobra.Command {
	var f registerFlags
	cmd := &cobra.Command{
		Use:   "register (-name NAME [flags] | -file DEF.json)",
		Short: "Register a service instance on this agent",
		Long: `Register a service instance on this agent from flags, or from a JSON
service definition (the HTTP API's ServiceDefinition; "-file -" reads
standard input). At most one check: -check-tcp, -check-http or -check-ttl;
-interval and -timeout apply to the TCP and HTTP checks. Registering an
existing ID replaces it.`,
		Example: `  agentctl service register -name web -port 8080 -tag v1 -check-http http://127.0.0.1:8080/health -interval 10s
  agentctl service register -name batch -check-ttl 30s
  agentctl service register -file web.json`,
		Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			def, err := a.definition(cmd, &f)
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if err := c.Register(cmd.Context(), def); err != nil {
				return err
			}
			id := def.ID
			if id == "" {
				id = def.Name
			}
			_, err = fmt.Fprintf(a.stdout, "registered service %s\n", cell(id))
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.file, "file", "", "read the definition from this JSON file (- for standard input)")
	fl.StringVar(&f.def.Name, "name", "", "service name (required without -file)")
	fl.StringVar(&f.def.ID, "id", "", "instance ID, unique on this agent (default the name)")
	fl.IntVar(&f.def.Port, "port", 0, "service port")
	fl.StringVar(&f.def.Address, "address", "", "service address (default the node's)")
	fl.StringArrayVar(&f.def.Tags, "tag", nil, "tag, repeatable")
	fl.StringArrayVar(&f.meta, "meta", nil, "KEY=VALUE metadata, repeatable")
	fl.StringVar(&f.checkTCP, "check-tcp", "", "health check: connect to HOST:PORT")
	fl.StringVar(&f.checkHTTP, "check-http", "", "health check: GET this URL (2xx passing, 429 warning)")
	fl.DurationVar(&f.checkTTL, "check-ttl", 0, "health check: critical unless updated with 'agentctl check' within this time")
	fl.DurationVar(&f.interval, "interval", 0, "TCP/HTTP check interval (default the agent's)")
	fl.DurationVar(&f.timeout, "timeout", 0, "TCP/HTTP check timeout (default the agent's)")
	return cmd
}

// definition builds the service definition from -file or the flags, and
// refuses contradictory flags naming them.
func (a *app) definition(cmd *cobra.Command, f *registerFlags) (client.ServiceDefinition, error) {
	var set []string
	cmd.Flags().Visit(func(fl *pflag.Flag) { set = append(set, fl.Name) })
	if f.file != "" {
		var others []string
		for _, n := range set {
			if n != "file" && n != "http-addr" && n != "token" {
				others = append(others, "-"+n)
			}
		}
		if len(others) > 0 {
			return client.ServiceDefinition{}, fmt.Errorf("-file cannot be combined with %s", strings.Join(others, ", "))
		}
		return a.readDefinition(f.file)
	}
	def := f.def
	if def.Name == "" {
		return def, errors.New("-name or -file is required")
	}
	if def.Port < 0 || def.Port > 65535 {
		return def, fmt.Errorf("-port %d is out of range 0-65535", def.Port)
	}
	for _, m := range f.meta {
		k, v, ok := strings.Cut(m, "=")
		if !ok || k == "" {
			return def, fmt.Errorf("-meta %q: want KEY=VALUE", m)
		}
		if def.Meta == nil {
			def.Meta = map[string]string{}
		}
		def.Meta[k] = v
	}
	var checks []string
	for _, c := range []struct {
		name string
		set  bool
	}{{"-check-tcp", f.checkTCP != ""}, {"-check-http", f.checkHTTP != ""}, {"-check-ttl", f.checkTTL != 0}} {
		if c.set {
			checks = append(checks, c.name)
		}
	}
	switch {
	case len(checks) > 1:
		return def, fmt.Errorf("only one of -check-tcp, -check-http and -check-ttl may be set, got %s", strings.Join(checks, " and "))
	case f.checkTTL < 0:
		return def, fmt.Errorf("-check-ttl %s is negative", f.checkTTL)
	case f.interval < 0:
		return def, fmt.Errorf("-interval %s is negative", f.interval)
	case f.timeout < 0:
		return def, fmt.Errorf("-timeout %s is negative", f.timeout)
	case (f.interval != 0 || f.timeout != 0) && f.checkTCP == "" && f.checkHTTP == "":
		return def, errors.New("-interval and -timeout need -check-tcp or -check-http")
	case len(checks) == 1:
		def.Check = &client.CheckDefinition{TCP: f.checkTCP, HTTP: f.checkHTTP, TTL: client.Duration(f.checkTTL),
			Interval: client.Duration(f.interval), Timeout: client.Duration(f.timeout)}
	}
	return def, nil
}

// readDefinition reads a JSON ServiceDefinition; unknown fields are errors
// so a misspelt field is named.
func (a *app) readDefinition(path string) (client.ServiceDefinition, error) {
	var def client.ServiceDefinition
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(a.stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return def, fmt.Errorf("-file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&def); err != nil {
		return def, fmt.Errorf("-file %s: %w", path, err)
	}
	return def, nil
}

func (a *app) deregisterCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "deregister ID",
		Short:   "Remove a service instance from this agent",
		Example: "  agentctl service deregister web",
		Args:    nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if err := c.Deregister(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "deregistered service %s\n", cell(args[0]))
			return err
		},
	}
}

func (a *app) checkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Update the TTL health check of a local service instance",
		Long: `Set the health of the TTL check of service instance ID on this agent:
pass (passing), warn (warning) or fail (critical). The state holds until
the next update or until the TTL runs out (then critical).`,
		Args: a.groupArgs,
		RunE: a.groupHelp,
	}
	for _, c := range []struct{ verb, health string }{
		{"pass", client.HealthPassing}, {"warn", client.HealthWarning}, {"fail", client.HealthCritical},
	} {
		var note string
		sub := &cobra.Command{
			Use:     c.verb + " ID",
			Short:   "Mark the TTL check of ID " + c.health,
			Example: "  agentctl check " + c.verb + " batch -note 'nightly run'",
			Args:    nArgs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cl, err := a.client(cmd)
				if err != nil {
					return err
				}
				if err := cl.UpdateTTL(cmd.Context(), args[0], c.health, note); err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "check of %s is %s\n", cell(args[0]), c.health)
				return err
			},
		}
		sub.Flags().StringVar(&note, "note", "", "text shown as the check's output")
		cmd.AddCommand(sub)
	}
	return cmd
}
