package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
)

// etcdCmd runs one member of a standalone etcd cluster from the runnel
// binary, so that a compose file (or any machine) gets a multi-member etcd
// for Runnel's metadata without an etcd image or package. The flags are
// etcd's own, the subset a static cluster needs.
func etcdCmd(args []string) error {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	name := fs.String("name", "default", "member name")
	dir := fs.String("data-dir", "", "data directory (required)")
	listenClient := fs.String("listen-client-urls", "http://0.0.0.0:2379", "URLs to serve clients on, comma separated")
	advertiseClient := fs.String("advertise-client-urls", "", "client URLs advertised to the cluster, comma separated (required)")
	listenPeer := fs.String("listen-peer-urls", "http://0.0.0.0:2380", "URLs to serve peers on, comma separated")
	advertisePeer := fs.String("initial-advertise-peer-urls", "", "peer URLs advertised to the cluster, comma separated (required)")
	initialCluster := fs.String("initial-cluster", "", "name=peer-url,… of every member at bootstrap (required)")
	state := fs.String("initial-cluster-state", "new", "new or existing")
	token := fs.String("initial-cluster-token", "runnel-etcd", "cluster token, the same on every member")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *advertiseClient == "" || *advertisePeer == "" || *initialCluster == "" {
		return errors.New("etcd: --data-dir, --advertise-client-urls, --initial-advertise-peer-urls and --initial-cluster are required")
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = *name, *dir
	cfg.InitialCluster, cfg.ClusterState, cfg.InitialClusterToken = *initialCluster, *state, *token
	var err error
	for _, f := range []struct {
		flag string
		dst  *[]url.URL
	}{
		{*listenClient, &cfg.ListenClientUrls}, {*advertiseClient, &cfg.AdvertiseClientUrls},
		{*listenPeer, &cfg.ListenPeerUrls}, {*advertisePeer, &cfg.AdvertisePeerUrls},
	} {
		if *f.dst, err = parseURLs(f.flag); err != nil {
			return err
		}
	}
	// Metadata history is only needed by watches that fell behind.
	cfg.AutoCompactionMode, cfg.AutoCompactionRetention = "periodic", "1h"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer e.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-e.Err():
		return fmt.Errorf("etcd: %w", err)
	case <-sig:
		return nil
	}
}

func parseURLs(s string) ([]url.URL, error) {
	var out []url.URL
	for _, p := range strings.Split(s, ",") {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("etcd: URL %q: %w", p, err)
		}
		out = append(out, *u)
	}
	return out, nil
}
