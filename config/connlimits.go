package config

import (
	"fmt"
	"math"
	"strconv"
)

// Listener-scoped connection limits (Kafka's per-listener overrides,
// KIP-402 and KIP-612): listener.name.<l>.max.connections and
// listener.name.<l>.max.connection.creation.rate. Without one, a listener
// has no limit of its own (Kafka's listener default is Int.MaxValue); the
// broker-wide keys still apply.
var listenerLimitDefs = map[string]*Def{
	"max.connections":              {Name: "max.connections", Type: Int, Validate: atLeast(0)},
	"max.connection.creation.rate": {Name: "max.connection.creation.rate", Type: Int, Validate: atLeast(0)},
}

// listenerLimitDef returns the definition checking a listener-scoped
// connection limit key, or nil for any other key.
func listenerLimitDef(key string) *Def {
	_, rest, ok := listenerScoped(key)
	if !ok {
		return nil
	}
	return listenerLimitDefs[rest]
}

// ListenerConnectionLimit returns listener.name.<listener>.<key> (key is
// max.connections or max.connection.creation.rate), or -1 when it is not
// set. Values were validated at load.
func (b *Broker) ListenerConnectionLimit(listener, key string) int {
	v, ok := b.listenerRaw(listener, key)
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(n)
}

// checkListenerLimitKey is classify's check of a listener-scoped limit.
func checkListenerLimitKey(key, value string) error {
	d := listenerLimitDef(key)
	if d == nil {
		return fmt.Errorf("%s is not a listener connection limit", key)
	}
	if err := d.Check(value); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}
