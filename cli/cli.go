// Package cli is runnel's admin command line, in the spirit of Redpanda's
// rpk: topics, groups, produce and consume, cluster health, SCRAM users,
// transactions, ACLs and client quotas. It speaks only the Kafka protocol
// (franz-go's kgo and kadm), so it works against any Kafka-compatible
// cluster, not only Runnel.
//
// Every leaf command takes the same global flags (brokers, TLS, SASL,
// --format, --timeout) anywhere among its own flags and arguments, prints a
// human table by default or one JSON document with --format json, and exits
//
//	0  success
//	1  the cluster answered with an error (or could not be reached), or
//	   `cluster health` found the cluster unhealthy
//	2  usage: unknown verb, bad flag, missing argument
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Exit codes; see the package comment.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// IO is what a command reads and writes; main passes the process's, tests
// their buffers.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (RUNNEL_BROKERS); nil reads nothing.
	Getenv func(string) string
}

// command is one leaf of the command tree: `runnel <group> <verb>`, or
// `runnel <group>` when verb is empty.
type command struct {
	group, verb string
	args        string // synopsis of the positional arguments
	summary     string
	run         func(e *env, args []string) error
}

// commands is the command tree, in the order help lists it.
func commands() []command {
	return []command{
		{"topic", "create", "TOPIC...", "create topics (-p partitions, -r replicas, -c key=value)", topicCreate},
		{"topic", "list", "", "list topics (-i: internal ones too)", topicList},
		{"topic", "describe", "TOPIC...", "partitions, leaders, ISR, offsets and non-default configs", topicDescribe},
		{"topic", "alter-config", "TOPIC...", "change configs (--set k=v, --delete k, --append k=v, --subtract k=v)", topicAlterConfig},
		{"topic", "add-partitions", "TOPIC...", "add partitions (-n count)", topicAddPartitions},
		{"topic", "delete", "TOPIC...", "delete topics", topicDelete},
		{"group", "list", "", "list consumer groups", groupList},
		{"group", "describe", "GROUP...", "members, committed offsets, end offsets and lag", groupDescribe},
		{"group", "reset-offsets", "GROUP", "plan (default) or --execute an offset reset", groupResetOffsets},
		{"group", "delete", "GROUP...", "delete groups", groupDelete},
		{"produce", "", "TOPIC", "produce lines of stdin (--key-delim, -H k=v, -p, --acks, --compression)", produce},
		{"consume", "", "TOPIC...", "consume to stdout (-o start|end|N|-N, -n, -p, --group, --format)", consume},
		{"cluster", "info", "", "cluster id, controller, brokers", clusterInfo},
		{"cluster", "health", "", "brokers, controller, under-replicated and offline partitions; exit 1 when unhealthy", clusterHealth},
		{"user", "create", "USER", "create or update a SCRAM user (--new-password, --mechanism)", userCreate},
		{"user", "delete", "USER...", "delete SCRAM users", userDelete},
		{"user", "list", "[USER...]", "list SCRAM users and their mechanisms", userList},
		{"txn", "list", "", "list transactional ids (--state)", txnList},
		{"txn", "describe", "TXNID...", "describe transactional ids", txnDescribe},
		{"acl", "create", "", "create ACLs (--allow/--deny PRINCIPAL, --operation, --topic/--group/--cluster/--transactional-id)", aclCreate},
		{"acl", "list", "", "list ACLs matching a filter", aclList},
		{"acl", "delete", "", "delete ACLs matching a filter", aclDelete},
		{"quota", "describe", "", "describe client quotas (--user-principal, --client-id, --ip; --default-*)", quotaDescribe},
		{"quota", "alter", "", "set or remove client quotas (--set k=v, --remove k)", quotaAlter},
	}
}

// IsCommand reports whether name is a command group, for main's dispatch.
func IsCommand(name string) bool {
	for _, c := range commands() {
		if c.group == name {
			return true
		}
	}
	return false
}

// Usage writes the command list.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "admin commands (global flags: --brokers, --tls*, --sasl-mechanism, --user, --password, --format text|json, --timeout):")
	for _, c := range commands() {
		name := strings.Join(strings.Fields(c.group+" "+c.verb+" "+c.args), " ")
		fmt.Fprintf(w, "  %-34s %s\n", name, c.summary)
	}
}

// Run runs one command; args start with the group (os.Args[1:]). It
// returns the process exit code. SIGINT handling is the caller's: cancel
// ctx.
func Run(ctx context.Context, args []string, stdio IO) int {
	if stdio.Getenv == nil {
		stdio.Getenv = func(string) string { return "" }
	}
	if stdio.Stdin == nil {
		stdio.Stdin = strings.NewReader("")
	}
	cmd, rest, err := lookup(args)
	if err != nil {
		fmt.Fprintln(stdio.Stderr, "runnel:", err)
		if len(args) == 0 || !IsCommand(args[0]) {
			Usage(stdio.Stderr)
		}
		return ExitUsage
	}
	e := &env{ctx: ctx, io: stdio, name: strings.TrimSpace(cmd.group + " " + cmd.verb), synopsis: cmd.args, summary: cmd.summary}
	err = cmd.run(e, rest)
	if e.admin != nil {
		e.admin.Close()
	}
	return exitCode(stdio.Stderr, err)
}

// exitCode reports err on w and maps it to an exit code.
func exitCode(w io.Writer, err error) int {
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintln(w, "runnel:", err)
		return ExitUsage
	default:
		fmt.Fprintln(w, "runnel:", err)
		return ExitError
	}
}

func lookup(args []string) (command, []string, error) {
	if len(args) == 0 {
		return command{}, nil, errors.New("no command")
	}
	var verbs []string
	for _, c := range commands() {
		if c.group != args[0] {
			continue
		}
		if c.verb == "" {
			return c, args[1:], nil
		}
		verbs = append(verbs, c.verb)
		if len(args) > 1 && args[1] == c.verb {
			return c, args[2:], nil
		}
	}
	if len(verbs) == 0 {
		return command{}, nil, fmt.Errorf("unknown command %q", args[0])
	}
	if len(args) == 1 {
		return command{}, nil, fmt.Errorf("%s: missing verb (%s)", args[0], strings.Join(verbs, ", "))
	}
	return command{}, nil, fmt.Errorf("%s: unknown verb %q (%s)", args[0], args[1], strings.Join(verbs, ", "))
}

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// globals are the flags every command takes.
type globals struct {
	brokers       string
	tls           bool
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsServerName string
	saslMechanism string
	user          string
	password      string
	format        string
	timeout       time.Duration
}

// defaultBrokers is Kafka's quickstart address, the address `make run`
// listens on.
const defaultBrokers = "localhost:9092"

func (g *globals) register(fs *flag.FlagSet, getenv func(string) string) {
	brokers := getenv("RUNNEL_BROKERS")
	if brokers == "" {
		brokers = defaultBrokers
	}
	fs.StringVar(&g.brokers, "brokers", brokers, "bootstrap addresses, comma separated (env RUNNEL_BROKERS)")
	fs.BoolVar(&g.tls, "tls", false, "connect with TLS (implied by the other --tls-* flags)")
	fs.StringVar(&g.tlsCA, "tls-ca", "", "PEM file of the CAs to trust instead of the system's")
	fs.StringVar(&g.tlsCert, "tls-cert", "", "PEM client certificate (with --tls-key)")
	fs.StringVar(&g.tlsKey, "tls-key", "", "PEM client key (with --tls-cert)")
	fs.StringVar(&g.tlsServerName, "tls-server-name", "", "name to verify the brokers' certificates against (default: the host dialled)")
	fs.StringVar(&g.saslMechanism, "sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&g.user, "user", "", "SASL user")
	fs.StringVar(&g.password, "password", "", "SASL password")
	fs.StringVar(&g.format, "format", "text", "output: text or json")
	fs.DurationVar(&g.timeout, "timeout", 15*time.Second, "upper bound on an admin request, from dial to answer")
}

// check validates the globals after parsing. allowTemplate lets consume take
// a record template in --format.
func (g *globals) check(allowTemplate bool) error {
	if g.format != "text" && g.format != "json" && !(allowTemplate && strings.Contains(g.format, "%")) {
		return usagef("--format %q: want text or json", g.format)
	}
	if g.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	if (g.tlsCert == "") != (g.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	switch strings.ToUpper(g.saslMechanism) {
	case "":
		if g.user != "" || g.password != "" {
			return usagef("--user and --password need --sasl-mechanism")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if g.user == "" {
			return usagef("--sasl-mechanism needs --user")
		}
	default:
		return usagef("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", g.saslMechanism)
	}
	if len(g.seeds()) == 0 {
		return usagef("--brokers is empty")
	}
	return nil
}

func (g *globals) seeds() []string {
	var s []string
	for _, b := range strings.Split(g.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			s = append(s, b)
		}
	}
	return s
}

// clientOpts turns the globals into franz-go options.
func (g *globals) clientOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(g.seeds()...),
		kgo.ClientID("runnel-cli"),
		kgo.DialTimeout(min(g.timeout, 10*time.Second)),
	}
	if g.tls || g.tlsCA != "" || g.tlsCert != "" || g.tlsServerName != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: g.tlsServerName}
		if g.tlsCA != "" {
			pem, err := os.ReadFile(g.tlsCA)
			if err != nil {
				return nil, usagef("--tls-ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, usagef("--tls-ca %s: no PEM certificate in it", g.tlsCA)
			}
			tc.RootCAs = pool
		}
		if g.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(g.tlsCert, g.tlsKey)
			if err != nil {
				return nil, usagef("--tls-cert/--tls-key: %v", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch strings.ToUpper(g.saslMechanism) {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: g.user, Pass: g.password}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: g.user, Pass: g.password}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: g.user, Pass: g.password}.AsSha512Mechanism()))
	}
	return opts, nil
}

// env is one command's run: its IO, parsed globals and the clients it made.
type env struct {
	ctx      context.Context
	io       IO
	name     string
	synopsis string
	summary  string
	g        globals
	// admin is made on first use and closed by Run.
	admin *kadm.Client
}

// flags returns the command's flag set with the globals registered.
func (e *env) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("runnel "+e.name, flag.ContinueOnError)
	fs.SetOutput(e.io.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.io.Stderr, "usage: runnel %s [flags] %s\n  %s\n\nflags:\n", e.name, e.synopsis, e.summary)
		fs.PrintDefaults()
	}
	e.g.register(fs, e.io.Getenv)
	return fs
}

// parse parses flags and positional arguments in any order (Go's flag
// package alone stops at the first positional one), checks the globals and
// the number of positional arguments: at least minArgs, at most maxArgs
// (-1: no limit).
func (e *env) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	if err := e.g.check(e.name == "consume"); err != nil {
		return nil, err
	}
	switch {
	case len(pos) < minArgs:
		return nil, usagef("%s: want %s", e.name, e.synopsis)
	case maxArgs >= 0 && len(pos) > maxArgs:
		return nil, usagef("%s: unexpected arguments %q", e.name, pos[maxArgs:])
	}
	return pos, nil
}

// parseInterleaved parses flags that may follow positional arguments; "--"
// ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		consumed := len(args) - fs.NArg()
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, fs.Args()...), nil
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// client makes a franz-go client from the globals; the caller closes it.
func (e *env) client(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := e.g.clientOpts()
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(append(opts, extra...)...)
}

// adm returns the command's admin client.
func (e *env) adm() (*kadm.Client, error) {
	if e.admin != nil {
		return e.admin, nil
	}
	cl, err := e.client()
	if err != nil {
		return nil, err
	}
	e.admin = kadm.NewClient(cl)
	e.admin.SetTimeoutMillis(int32(e.g.timeout.Milliseconds()))
	return e.admin, nil
}

// reqCtx bounds an admin command by --timeout.
func (e *env) reqCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, e.g.timeout)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
