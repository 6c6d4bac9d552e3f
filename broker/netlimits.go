package broker

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/runnel/runnel/config"
	"github.com/runnel/runnel/controller"
	"github.com/runnel/runnel/network"
	"go.uber.org/zap"
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
	nc.QuotaWindow = quotaWindow(cfg)
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

// connectionLimitKeys are the broker-wide limits AlterConfigs may change
// at run time (dynamic broker configs, as in Kafka).
var connectionLimitKeys = [...]string{"max.connections", "max.connections.per.ip", "max.connections.per.ip.overrides", "max.connection.creation.rate"}

// watchConnectionLimits returns a snapshot subscriber that gives the
// Server the broker-wide connection limits whenever their dynamic values
// (this broker's, else the cluster default, else the static ones)
// change. A dynamic value Runnel cannot apply (0, an unresolvable
// override) is logged and the previous limits stay.
func (b *Broker) watchConnectionLimits(cfg *config.Broker) func(*controller.Snapshot) {
	var last [len(connectionLimitKeys)]string
	for i, k := range connectionLimitKeys {
		last[i], _ = cfg.Get(k)
	}
	return func(s *controller.Snapshot) {
		var now [len(connectionLimitKeys)]string
		own, def := s.BrokerConfigs[itoa(b.id)], s.BrokerConfigs[""]
		for i, k := range connectionLimitKeys {
			v, ok := own[k]
			if !ok {
				v, ok = def[k]
			}
			if !ok {
				v, _ = cfg.Get(k)
			}
			now[i] = v
		}
		if now == last {
			return
		}
		dyn := *cfg
		var err error
		for i, p := range []*int32{&dyn.MaxConnections, &dyn.MaxConnectionsPerIP, nil, &dyn.MaxConnectionCreationRate} {
			if p == nil {
				continue
			}
			n, perr := strconv.ParseInt(now[i], 10, 32)
			if perr != nil {
				err = fmt.Errorf("%s=%q: %w", connectionLimitKeys[i], now[i], perr)
			}
			*p = int32(n)
		}
		dyn.MaxConnectionsPerIPOverrides = now[2]
		var nc network.Config
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = connectionLimits(ctx, &dyn, &nc)
			cancel()
		}
		if err != nil {
			b.log.Warn("dynamic connection limits not applied; the previous limits stay", zap.Error(err))
			return
		}
		last = now
		b.srv.SetConnectionLimits(network.ConnectionLimits{
			MaxConnections:               nc.MaxConnections,
			MaxConnectionsPerIP:          nc.MaxConnectionsPerIP,
			MaxConnectionsPerIPOverrides: nc.MaxConnectionsPerIPOverrides,
			MaxConnectionCreationRate:    nc.MaxConnectionCreationRate,
		})
		b.log.Info("connection limits changed", zap.Strings("keys", connectionLimitKeys[:]), zap.Strings("values", now[:]))
	}
}
