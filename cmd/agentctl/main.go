package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/murmurhq/murmur/agent/client"
)

// Environment variables read when the matching flag is not given.
const (
	envAddr       = "MURMUR_HTTP_ADDR"
	envToken      = "MURMUR_TOKEN"
	envCAFile     = "MURMUR_CACERT"
	envClientCert = "MURMUR_CLIENT_CERT"
	envClientKey  = "MURMUR_CLIENT_KEY"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv: os.Getenv, rand: rand.Reader,
	})
	stop()
	os.Exit(code)
}

// env is everything agentctl takes from its process, injectable so tests
// run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	rand           io.Reader // keygen's entropy
}

// app is one invocation: the environment and the global flags.
type app struct {
	env
	addr  string
	token string
	// tokenFrom names where the token sent came from ("-token" or the
	// environment variable), "" when none was sent.
	tokenFrom string
	// TLS files (-ca-file, -client-cert, -client-key).
	caFile, clientCert, clientKey string
	// started is set once flags and arguments are accepted and a command
	// runs; an error before that is a usage error.
	started bool
}

// run executes agentctl with args and returns the exit code: 0, or 1 after
// printing exactly one line "agentctl: REASON" on stderr.
func run(ctx context.Context, args []string, e env) int {
	a := &app{env: e}
	root := a.rootCmd()
	root.SetArgs(normalizeArgs(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	msg := errorLine(err)
	if api, ok := errors.AsType[*client.APIError](err); ok && api.StatusCode == http.StatusUnauthorized {
		msg = a.tokenProblem()
	}
	if !a.started && cmd != nil {
		// A flag or argument error: say how the command is used.
		if cmd.HasParent() {
			msg = fmt.Sprintf("%s (usage: %s)", msg, cmd.UseLine())
		} else {
			msg = fmt.Sprintf("%s (see 'agentctl --help')", msg)
		}
	}
	fmt.Fprintf(e.stderr, "agentctl: %s\n", msg)
	return 1
}

// tokenProblem explains a 401 from the agent in agentctl's terms: which
// flag or variable to set, or which one held the refused token.
func (a *app) tokenProblem() string {
	if a.tokenFrom == "" {
		return "the agent requires a token for this: pass -token TOKEN or set " + envToken
	}
	return "the agent refused the token given by " + a.tokenFrom
}

// errorLine is the single line a user sees for err.
func errorLine(err error) string {
	var unreachable *client.UnreachableError
	var api *client.APIError
	var msg string
	switch {
	case errors.As(err, &unreachable):
		msg = fmt.Sprintf("cannot reach agent at %s: %s", unreachable.Addr, unreachable.Reason())
	case errors.As(err, &api):
		msg = api.Message
	case errors.Is(err, context.Canceled):
		msg = "interrupted"
	default:
		msg = err.Error()
	}
	// Cobra appends suggestions on later lines; multi-line agent errors
	// (one line per join address) are joined.
	if first, _, ok := strings.Cut(msg, "\n\n"); ok {
		msg = first
	}
	var b strings.Builder
	for line := range strings.Lines(msg) {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(line)
	}
	return b.String()
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "agentctl",
		Short: "Drive a Murmur agent over its HTTP API",
		Long: `agentctl drives a Murmur agent over its HTTP API.

Flags take one or two dashes (-json or --json). The agent's address and
token come from -http-addr and -token, else from the environment
(` + envAddr + `, ` + envToken + `), else the address is ` + client.DefaultAddr + `.
For an https:// address, -ca-file, -client-cert and -client-key (env
` + envCAFile + `, ` + envClientCert + `, ` + envClientKey + `) set the CA to trust and the
client certificate of mutual TLS.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              a.groupArgs,
		RunE:              a.groupHelp,
		PersistentPreRunE: func(*cobra.Command, []string) error { a.started = true; return nil },
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.addr, "http-addr", "", "agent HTTP API address, HOST:PORT or URL (env "+envAddr+", default "+client.DefaultAddr+")")
	pf.StringVar(&a.token, "token", "", "ACL token, or the management token http.token (env "+envToken+")")
	pf.StringVar(&a.caFile, "ca-file", "", "PEM file of the CA that signed the agent's certificate, for https:// addresses (env "+envCAFile+"; default the system's roots)")
	pf.StringVar(&a.clientCert, "client-cert", "", "PEM client certificate for agents that require mutual TLS (env "+envClientCert+")")
	pf.StringVar(&a.clientKey, "client-key", "", "PEM key of -client-cert (env "+envClientKey+")")
	root.AddCommand(
		a.membersCmd(), a.joinCmd(), a.leaveCmd(),
		a.kvCmd(),
		a.servicesCmd(), a.serviceCmd(), a.checkCmd(),
		a.rttCmd(), a.keygenCmd(), a.keyringCmd(), a.versionCmd(), a.waitCmd(),
	)
	return root
}

// groupArgs refuses an unknown subcommand of a command group.
func (a *app) groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}

// groupHelp shows a command group's help when run without a subcommand.
func (a *app) groupHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// nArgs accepts between min and max positional arguments (max < 0: any).
func nArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return errors.New("missing argument")
		case max >= 0 && len(args) > max:
			return fmt.Errorf("unexpected argument %q", args[max])
		}
		return nil
	}
}

// client returns a client of the agent named by -http-addr or the
// environment.
func (a *app) client(cmd *cobra.Command) (*client.Client, error) {
	addr, token := a.addr, a.token
	if !cmd.Flags().Changed("http-addr") {
		addr = a.getenv(envAddr)
	}
	if addr == "" {
		addr = client.DefaultAddr
	}
	a.tokenFrom = "-token"
	if !cmd.Flags().Changed("token") {
		token, a.tokenFrom = a.getenv(envToken), envToken
	}
	if token == "" {
		a.tokenFrom = ""
	}
	opts := []client.Option{client.WithToken(token)}
	files := [3]string{a.caFile, a.clientCert, a.clientKey}
	for i, f := range []struct{ flag, env string }{{"ca-file", envCAFile}, {"client-cert", envClientCert}, {"client-key", envClientKey}} {
		if !cmd.Flags().Changed(f.flag) {
			files[i] = a.getenv(f.env)
		}
	}
	if files != [3]string{} {
		tc, err := client.TLSConfig(files[0], files[1], files[2])
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithTLS(tc))
	}
	c, err := client.New(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("-http-addr: %w", err)
	}
	return c, nil
}

// normalizeArgs rewrites single-dash long flags (-json, -http-addr=X) to
// the double-dash form pflag parses, for every long flag agentctl defines.
// A single "-" (stdin), unknown names such as "-5", the value after a flag
// that takes one, and everything after "--" stay as they are.
func normalizeArgs(root *cobra.Command, args []string) []string {
	takesValue := map[string]bool{"help": false}
	var visit func(*cobra.Command)
	visit = func(c *cobra.Command) {
		add := func(f *pflag.Flag) { takesValue[f.Name] = f.NoOptDefVal == "" }
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(root)
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			out = append(out, args[i:]...)
			break
		}
		long, isFlag := "", false
		switch {
		case strings.HasPrefix(arg, "--"):
			long, isFlag = arg[2:], true
		case strings.HasPrefix(arg, "-") && len(arg) > 2:
			long = arg[1:]
		}
		name, _, hasValue := strings.Cut(long, "=")
		takes, known := takesValue[name]
		if known && !isFlag {
			arg = "-" + arg
		}
		out = append(out, arg)
		if known && takes && !hasValue && i+1 < len(args) {
			// The next argument is this flag's value, whatever it looks like.
			i++
			out = append(out, args[i])
		}
	}
	return out
}
