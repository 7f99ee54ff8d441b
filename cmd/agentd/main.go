// Command agentd runs a Murmur agent: it joins a cluster over gossip,
// replicates the config store, and serves the HTTP API and DNS.
//
// Only flags, the TOML file and signals live here; everything else is in
// package agent.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/murmurhq/murmur/agent"
	"github.com/murmurhq/murmur/internal/buildinfo"
	"github.com/murmurhq/murmur/internal/clock"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sig))
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type flags struct {
	config, node, bind, advertise, dataDir, httpAddr, consulAddr, dnsAddr, datacenter, logLevel string
	checkConfig                                                                                 string
	join                                                                                        stringList
	logJSON, dev, version                                                                       bool
	clockOffset                                                                                 time.Duration
	set                                                                                         map[string]bool
}

// errUsage is a command-line error already explained on stderr.
var errUsage = errors.New("agentd: usage")

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("agentd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "TOML config `file`")
	fs.StringVar(&f.checkConfig, "check-config", "", "validate the config `file` (with the other flags applied) and exit: 0 when valid, 1 with the problems")
	fs.BoolVar(&f.version, "version", false, "print the version, commit and Go version, and exit")
	fs.StringVar(&f.node, "node", "", "node `name` (default: host name)")
	fs.StringVar(&f.bind, "bind", agent.DefaultBindAddr, "gossip bind `ADDR:PORT` (UDP and TCP)")
	fs.StringVar(&f.advertise, "advertise", "", "`ADDR:PORT` other agents reach this one at")
	fs.Var(&f.join, "join", "`ADDR:PORT` of an agent to join (repeatable)")
	fs.StringVar(&f.dataDir, "data-dir", "", "`directory` for the store and known peers")
	fs.StringVar(&f.httpAddr, "http-addr", agent.DefaultHTTPAddr, "HTTP API `ADDR:PORT`")
	fs.StringVar(&f.consulAddr, "consul-addr", "", "Consul-compatible HTTP API `ADDR:PORT` (off by default; "+agent.DevConsulAddr+" under -dev; empty turns it off)")
	fs.StringVar(&f.datacenter, "datacenter", agent.DefaultDatacenter, "datacenter `name` the Consul-compatible API answers for")
	fs.StringVar(&f.dnsAddr, "dns-addr", agent.DefaultDNSAddr, "DNS `ADDR:PORT` (UDP and TCP)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines")
	fs.BoolVar(&f.dev, "dev", false, "run one in-memory agent on loopback with no config")
	fs.DurationVar(&f.clockOffset, "test-clock-offset", 0, "testing only: shift this agent's wall clock")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errUsage // the flag package has printed the problem and the usage
	}
	if fs.NArg() > 0 {
		hint := "agentd takes flags only"
		if slices.ContainsFunc(args, func(a string) bool { return a == "-join" || a == "--join" }) {
			hint = "-join takes one address; repeat it to join several: -join A -join B"
		}
		fmt.Fprintf(stderr, "agentd: unexpected argument %q: %s (see agentd -help)\n", fs.Arg(0), hint)
		return nil, errUsage
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if f.checkConfig != "" {
		if f.set["config"] && f.config != f.checkConfig {
			fmt.Fprintf(stderr, "agentd: -check-config %s and -config %s name different files\n", f.checkConfig, f.config)
			return nil, errUsage
		}
		f.config = f.checkConfig
	}
	return f, nil
}

// loadConfig builds the configuration: defaults (or -dev), then the file,
// then the flags that were given.
func loadConfig(f *flags) (agent.Config, error) {
	cfg := agent.DefaultConfig()
	if f.dev {
		cfg = agent.DevConfig()
	}
	var data []byte
	if f.config != "" {
		var err error
		cfg, data, err = agent.LoadFile(f.config, cfg)
		if err != nil {
			return cfg, err
		}
		cfg.Dev = f.dev
	}
	if f.set["node"] {
		cfg.NodeName = f.node
	}
	if f.set["bind"] {
		cfg.BindAddr = f.bind
	}
	if f.set["advertise"] {
		cfg.AdvertiseAddr = f.advertise
	}
	if f.set["join"] {
		cfg.Join = f.join
	}
	if f.set["data-dir"] {
		cfg.DataDir = f.dataDir
	}
	if f.set["http-addr"] {
		cfg.HTTP.Addr = f.httpAddr
	}
	if f.set["consul-addr"] {
		cfg.ConsulAPI.Addr = f.consulAddr
	}
	if f.set["datacenter"] {
		cfg.Datacenter = f.datacenter
	}
	if f.set["dns-addr"] {
		cfg.DNS.Addr = f.dnsAddr
	}
	if f.set["log-level"] {
		cfg.Log.Level = f.logLevel
	}
	if f.set["log-json"] {
		cfg.Log.JSON = f.logJSON
	}
	if f.config != "" {
		return cfg, agent.ValidateWithSource(&cfg, f.config, data)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %w", agent.ErrConfig, err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, cfg agent.Config, level *slog.LevelVar) *slog.Logger {
	lvl, _ := agent.ParseLevel(cfg.Log.Level) // validated
	level.Set(lvl)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.JSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printErr writes err to w, one "agentd: ..." line per line of it. agentd
// is package agent's command, so its name stands in for the package's
// "agent: " prefix instead of stacking on it ("agentd: agent: ...").
func printErr(w io.Writer, err error) {
	for line := range strings.Lines(err.Error()) {
		line = strings.TrimRight(line, "\n")
		fmt.Fprintf(w, "agentd: %s\n", strings.TrimPrefix(line, "agent: "))
	}
}

// run is main without os.Exit: it returns the exit code (0; 1 for a
// configuration or start-up error; 2 for a command-line error).
func run(args []string, stdout, stderr io.Writer, sig <-chan os.Signal) int {
	f, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if f.version {
		fmt.Fprintf(stdout, "agentd %s\n", buildinfo.Read())
		return 0
	}
	cfg, err := loadConfig(f)
	if err != nil {
		printErr(stderr, err)
		return 1
	}
	warning := secretsWarning(f.config, cfg)
	if f.checkConfig != "" {
		// What the agent would refuse at start for the configuration's
		// sake: plaintext gossip off loopback, TLS files, the keyring file.
		if err := agent.Check(cfg); err != nil {
			printErr(stderr, err)
			return 1
		}
		if warning != "" {
			fmt.Fprintf(stderr, "agentd: warning: %s\n", warning)
		}
		fmt.Fprintf(stdout, "%s: valid configuration: %s\n", f.checkConfig, summary(cfg))
		return 0
	}
	level := new(slog.LevelVar)
	log := newLogger(stderr, cfg, level)
	if warning != "" {
		log.Warn(warning)
	}
	opts := []agent.Option{agent.WithLogger(log)}
	if f.clockOffset != 0 {
		log.Warn("testing: wall clock shifted", "offset", f.clockOffset)
		opts = append(opts, agent.WithClock(clock.Offset{By: f.clockOffset}))
	}
	agent.ExportMemberlistMetrics() // agentd owns the process: memberlist's statistics go to /metrics
	a, err := agent.New(cfg, opts...)
	if err != nil {
		printErr(stderr, err)
		return 1
	}
	if err := a.Start(); err != nil {
		printErr(stderr, err)
		_ = a.Shutdown()
		return 1
	}
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				reload(f, a, level, log)
				continue
			}
			log.Info("signal received, leaving", "signal", s.String())
			ctx, cancel := context.WithTimeout(context.Background(), cfg.LeaveTimeout.D())
			if err := a.Leave(ctx); err != nil {
				log.Warn("leave failed", "err", err)
			}
			cancel()
			if err := a.Shutdown(); err != nil {
				log.Warn("shutdown", "err", err)
			}
			return 0
		case <-a.Done(): // left through the HTTP API
			return 0
		}
	}
}

// reload re-reads the configuration on SIGHUP and applies what can change
// at runtime; it logs what it did not apply.
func reload(f *flags, a *agent.Agent, level *slog.LevelVar, log *slog.Logger) {
	cfg, err := loadConfig(f)
	if err != nil {
		log.Error("reload failed, keeping the running configuration", "err", err)
		return
	}
	lvl, _ := agent.ParseLevel(cfg.Log.Level)
	levelChanged := lvl != level.Level()
	if levelChanged {
		level.Set(lvl)
		log.Info("reloaded log level", "level", lvl.String())
	}
	changed := a.Reload(cfg)
	for _, field := range changed.NotReloaded {
		log.Warn("config change needs a restart, not applied", "key", field)
	}
	for _, field := range changed.Reloaded {
		log.Info("reloaded", "key", field)
	}
	if !levelChanged && len(changed.Reloaded) == 0 && len(changed.NotReloaded) == 0 {
		if f.config == "" {
			log.Info("reload: no -config file, nothing changed")
		} else {
			log.Info("reload: configuration unchanged, nothing to apply", "file", f.config)
		}
	}
}

// secretsWarning warns when the config file holds a secret (gossip.key,
// http.token) and every user of the machine can read it.
func secretsWarning(path string, cfg agent.Config) string {
	if path == "" || (cfg.Gossip.Key == "" && cfg.HTTP.Token == "") {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return ""
	}
	return fmt.Sprintf("%s holds secrets (gossip.key or http.token) and is readable by every user (mode %04o): make it readable by the agent's user or group only, e.g. chmod 640 (examples/systemd)", path, fi.Mode().Perm())
}

// summary is the one line -check-config prints for a valid configuration.
func summary(cfg agent.Config) string {
	or := func(s, none string) string {
		if s == "" {
			return none
		}
		return s
	}
	data := or(cfg.DataDir, "none (in memory)")
	return fmt.Sprintf("node %s, gossip %s, http %s, consul %s, dns %s, data_dir %s, %d services",
		cfg.NodeName, cfg.BindAddr, or(cfg.HTTP.Addr, "off"), or(cfg.ConsulAPI.Addr, "off"), or(cfg.DNS.Addr, "off"), data, len(cfg.Services))
}
