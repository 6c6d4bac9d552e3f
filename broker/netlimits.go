package broker

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/network"
)

// connectionLimits sets the connection and request-memory limits and the
// failed-authentication delay of the Server's
// configuration and of each listener from the broker's keys
// (network/quotas.go has Kafka's semantics). Kafka's default,
// 2147483647, is "no limit", which network spells 0. A limit of 0 — no
// connection at all — has no use on a broker that must also serve its
// own clients and is refused at start rather than misread.
func connectionLimits(ctx context.Context, cfg *config.Broker, nc *network.Config) error {
	limit := func(key string, v int) (int, error) {
		switch {
		case v == 0:
			return 0, fmt.Errorf("broker: %s=0 would refuse every connection; Runnel does not support it", key)
		case v < 0 || v >= math.MaxInt32:
			return 0, nil
		}
		return v, nil
	}
	var err error
	if nc.MaxConnections, err = limit("max.connections", int(cfg.MaxConnections)); err != nil {
		return err
	}
	if nc.MaxConnectionsPerIP, err = limit("max.connections.per.ip", int(cfg.MaxConnectionsPerIP)); err != nil {
		return err
	}
	if nc.MaxConnectionCreationRate, err = limit("max.connection.creation.rate", int(cfg.MaxConnectionCreationRate)); err != nil {
		return err
	}
	if nc.MaxConnectionsPerIPOverrides, err = network.ParseMaxConnectionsPerIPOverrides(ctx, cfg.MaxConnectionsPerIPOverrides); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	nc.InterBrokerListener = cfg.InterBrokerListenerName
	// queued.max.request.bytes: -1 (Kafka's default) and 0 are no pool.
	nc.QueuedMaxRequestBytes = cfg.QueuedMaxRequestBytes
	nc.QueuedMaxRequests = int(cfg.QueuedMaxRequests)
	nc.FailedAuthenticationDelay = time.Duration(cfg.FailedAuthenticationDelayMs) * time.Millisecond
	for i := range nc.Listeners {
		l := &nc.Listeners[i]
		if l.MaxConnections, err = limit("listener.name."+l.Name+".max.connections", cfg.ListenerConnectionLimit(l.Name, "max.connections")); err != nil {
			return err
		}
		if l.MaxConnectionCreationRate, err = limit("listener.name."+l.Name+".max.connection.creation.rate", cfg.ListenerConnectionLimit(l.Name, "max.connection.creation.rate")); err != nil {
			return err
		}
	}
	return nil
}
