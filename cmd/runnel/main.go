// Command runnel is the Runnel broker and its admin verbs.
//
//	runnel serve [--config server.properties] [--override key=value ...]
//
// Configuration speaks Kafka: server.properties keys, KAFKA_* environment
// variables (KAFKA_ADVERTISED_LISTENERS → advertised.listeners) and
// --override, in increasing precedence. With no etcd.endpoints the broker
// runs an embedded etcd in its log dir.
package main

import (
	"fmt"
	"os"
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
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "runnel: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "runnel:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: runnel <command> [flags]

commands:
  serve    run a broker (--config FILE, --override key=value, KAFKA_* environment)
  bench    load generator (--brokers, --mode produce|consume|e2e|all, --records, --size, --rate, --duration)
`)
}
