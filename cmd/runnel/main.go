// Command runnel is the Runnel broker and its admin verbs.
//
//	runnel serve [--config server.properties] [--override key=value ...]
//	runnel bench [--brokers host:port] [--mode produce|consume|fetch|e2e|all]
//	runnel etcd --name N --data-dir D … (one member of a standalone etcd cluster)
//	runnel probe URL (GET; exit 0 on 200: container health checks)
//	runnel topic|group|produce|consume|cluster|user|txn|acl|quota ... (package cli)
//
// Configuration speaks Kafka: server.properties keys, KAFKA_* environment
// variables (KAFKA_ADVERTISED_LISTENERS → advertised.listeners) and
// --override, in increasing precedence. With no etcd.endpoints the broker
// runs an embedded etcd in its log dir.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/runnel/runnel/cli"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "bench":
		err = benchCmd(os.Args[2:])
	case "etcd":
		err = etcdCmd(os.Args[2:])
	case "probe":
		err = probe(os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		if cli.IsCommand(os.Args[1]) {
			os.Exit(runCLI(os.Args[1:]))
		}
		fmt.Fprintf(os.Stderr, "runnel: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "runnel:", err)
		os.Exit(1)
	}
}

// runCLI runs an admin verb. The first SIGINT ends a consume (or any verb)
// cleanly; a second one, after stop, kills the process as usual, since
// produce may be blocked reading a terminal.
func runCLI(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	return cli.Run(ctx, args, cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: runnel <command> [flags]

commands:
  serve    run a broker (--config FILE, --override key=value, KAFKA_* environment)
  bench    load generator (--brokers, --mode produce|consume|e2e|all, --records, --size, --rate, --duration)
  etcd     run one member of a standalone etcd cluster (--name, --data-dir, --initial-cluster, etcd's URL flags)
  probe    GET a URL, exit 0 on 200 (container health checks: probe http://127.0.0.1:9644/readyz)

`)
	cli.Usage(os.Stderr)
}
