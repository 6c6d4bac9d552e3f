// Command kfakeserver runs franz-go's in-memory fake Kafka cluster (kfake)
// in a process of its own, so that a benchmark can compare a broker process
// with a kfake process, each reached over loopback TCP from a separate
// client process, rather than with a kfake that shares the client's Go
// runtime and scheduler.
//
//	kfakeserver [--brokers 1] [--port 0]
//
// It prints its listen addresses, comma separated, as the first line of
// standard output and runs until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	brokers := flag.Int("brokers", 1, "number of fake brokers")
	port := flag.Int("port", 0, "port of the first broker (0: chosen at run time; further brokers take the next ports)")
	flag.Parse()

	opts := []kfake.Opt{kfake.NumBrokers(*brokers)}
	if *port != 0 {
		ports := make([]int, *brokers)
		for i := range ports {
			ports[i] = *port + i
		}
		opts = append(opts, kfake.Ports(ports...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfakeserver:", err)
		os.Exit(1)
	}
	fmt.Println(strings.Join(c.ListenAddrs(), ","))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	c.Close()
}
