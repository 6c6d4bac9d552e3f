package config

import (
	"fmt"
	"sort"
	"strconv"
)

// Dynamic holds the broker configs set at run time through AlterConfigs
// (kept in etcd by the controller).
type Dynamic struct {
	// PerBroker were set on this broker's resource (name = its id):
	// DYNAMIC_BROKER_CONFIG.
	PerBroker map[string]string
	// ClusterDefault were set on the cluster-wide broker resource (empty
	// name): DYNAMIC_DEFAULT_BROKER_CONFIG.
	ClusterDefault map[string]string
}

// Entry is one config of a DescribeConfigs result, ready to copy into a
// kmsg.DescribeConfigsResponseResourceConfig.
type Entry struct {
	Name string
	// Value is nil for a null value and for every sensitive config.
	Value     *string
	Source    Source
	ReadOnly  bool
	Sensitive bool
	// Synonyms list every place a value for this config is set, highest
	// precedence first: the topic override, then the dynamic per-broker
	// values, the dynamic cluster defaults, the static broker values and
	// the built-in defaults (within one level, in the order of the key's
	// broker synonyms, e.g. log.retention.ms, .minutes, .hours).
	Synonyms []EntrySynonym
	Type     Type
	Doc      string
}

// EntrySynonym is one synonym of an Entry.
type EntrySynonym struct {
	Name   string
	Value  *string
	Source Source
}

type layer struct {
	m   map[string]string
	src Source
}

// brokerLayers returns the broker-level layers, highest precedence first;
// the last holds the built-in defaults.
func brokerLayers(b *Broker, dyn Dynamic) []layer {
	defaults := map[string]string{}
	for _, d := range brokerDefs {
		if !d.Null {
			defaults[d.Name] = d.Default
		}
	}
	var static map[string]string
	if b != nil {
		static = b.staticValues()
	}
	return []layer{
		{dyn.PerBroker, SourceDynamicBroker},
		{dyn.ClusterDefault, SourceDynamicDefault},
		{static, SourceStatic},
		{defaults, SourceDefault},
	}
}

// normalise returns v in its canonical form for key's type when it parses,
// else v unchanged.
func normalise(d *Def, v string) string {
	if c, err := Canonical(d.Type, v); err == nil {
		return c
	}
	return v
}

func strp(s string) *string { return &s }

// topicSynonyms lists, highest precedence first, every value set for topic
// key d: the override, then each broker layer's values for d's synonyms.
// It also returns the effective value: the first synonym's value scaled
// to the topic key's unit, or the topic default when nothing is set.
func topicSynonyms(d *Def, layers []layer, overrides map[string]string) ([]EntrySynonym, *string) {
	var syns []EntrySynonym
	var value *string
	if v, ok := overrides[d.Name]; ok {
		v = normalise(d, v)
		syns = append(syns, EntrySynonym{Name: d.Name, Value: strp(v), Source: SourceTopic})
		value = strp(v)
	}
	for _, l := range layers {
		for _, s := range d.Synonyms {
			v, ok := l.m[s.Name]
			if !ok {
				continue
			}
			if bd := brokerIndex[s.Name]; bd != nil {
				v = normalise(bd, v)
			}
			syns = append(syns, EntrySynonym{Name: s.Name, Value: strp(v), Source: l.src})
			if value == nil {
				if s.Scale != 1 {
					n, err := strconv.ParseInt(v, 10, 64)
					if err == nil {
						v = strconv.FormatInt(scaled(n, s.Scale), 10)
					}
				}
				value = strp(v)
			}
		}
	}
	if value == nil {
		value = d.DefaultValue()
	}
	return syns, value
}

// DescribeTopic describes every topic key for a topic with the given
// overrides, resolving each key's value through its broker synonyms
// (dynamic per-broker, dynamic cluster default, static, default).
// Entries are sorted by name.
//
// One deliberate difference from Kafka: Kafka drops the synonyms that
// precede the key's first broker synonym (so a topic whose retention comes
// from a static log.retention.hours shows retention.ms as DEFAULT_CONFIG
// with no synonyms); Runnel lists them, and the entry's source is that of
// the synonym actually in force.
func DescribeTopic(b *Broker, dyn Dynamic, overrides map[string]string) []Entry {
	layers := brokerLayers(b, dyn)
	out := make([]Entry, 0, len(topicDefs))
	for i := range topicDefs {
		d := &topicDefs[i]
		syns, value := topicSynonyms(d, layers, overrides)
		e := Entry{Name: d.Name, Value: value, Source: SourceDefault, Sensitive: d.Sensitive,
			Synonyms: syns, Type: d.Type, Doc: d.Doc}
		if len(syns) > 0 {
			e.Source = syns[0].Source
		}
		if d.Sensitive {
			e.Value = nil
			for j := range e.Synonyms {
				e.Synonyms[j].Value = nil
			}
		}
		out = append(out, e)
	}
	return out
}

// brokerSynonymNames are the keys Kafka reports as synonyms of a broker
// key: the keys that set the same thing in other units.
func brokerSynonymNames(name string) []string {
	switch name {
	case "log.roll.ms", "log.roll.hours":
		return []string{"log.roll.ms", "log.roll.hours"}
	case "log.roll.jitter.ms", "log.roll.jitter.hours":
		return []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}
	case "log.flush.interval.ms":
		return []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"}
	case "log.retention.ms", "log.retention.minutes", "log.retention.hours":
		return []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}
	}
	return []string{name}
}

func brokerEntry(d *Def, layers []layer, keep func(Source) bool) Entry {
	var syns []EntrySynonym
	for _, l := range layers {
		if !keep(l.src) {
			continue
		}
		for _, n := range brokerSynonymNames(d.Name) {
			if v, ok := l.m[n]; ok {
				if sd := brokerIndex[n]; sd != nil {
					v = normalise(sd, v)
				}
				syns = append(syns, EntrySynonym{Name: n, Value: strp(v), Source: l.src})
			}
		}
	}
	// As Kafka does, synonyms of higher precedence than the key itself are
	// dropped: describing log.retention.hours shows where that key is set.
	for len(syns) > 0 && syns[0].Name != d.Name {
		syns = syns[1:]
	}
	e := Entry{Name: d.Name, Source: SourceDefault, ReadOnly: d.ReadOnly(), Sensitive: d.Sensitive,
		Synonyms: syns, Type: d.Type, Doc: d.Doc}
	if len(syns) > 0 {
		e.Source = syns[0].Source
		e.Value = syns[0].Value
	} else if keep(SourceDefault) {
		e.Value = d.DefaultValue()
	}
	if d.Sensitive {
		e.Value = nil
		for j := range e.Synonyms {
			e.Synonyms[j].Value = nil
		}
	}
	return e
}

// DescribeBroker describes every broker key as this broker sees it: the
// answer to DescribeConfigs on resource BROKER named with this broker's
// id. Entries are sorted by name; keys that are not dynamic are read-only.
func DescribeBroker(b *Broker, dyn Dynamic) []Entry {
	layers := brokerLayers(b, dyn)
	out := make([]Entry, 0, len(brokerDefs))
	for i := range brokerDefs {
		out = append(out, brokerEntry(&brokerDefs[i], layers, func(Source) bool { return true }))
	}
	return out
}

// DescribeBrokerDefaults answers DescribeConfigs on the cluster-wide
// broker resource (empty name): only the keys set as dynamic cluster
// defaults, each with DYNAMIC_DEFAULT_BROKER_CONFIG synonyms only.
// Unknown keys are skipped.
func DescribeBrokerDefaults(dyn Dynamic) []Entry {
	layers := []layer{{dyn.ClusterDefault, SourceDynamicDefault}}
	var out []Entry
	for i := range brokerDefs {
		d := &brokerDefs[i]
		if _, ok := dyn.ClusterDefault[d.Name]; !ok {
			continue
		}
		out = append(out, brokerEntry(d, layers, func(s Source) bool { return s == SourceDynamicDefault }))
	}
	return out
}

// NotDynamicError is ValidateBrokerDynamic's answer for a broker key that
// cannot change at run time: Kafka refuses it as an invalid request rather
// than an invalid config.
type NotDynamicError struct{ Key string }

func (e NotDynamicError) Error() string {
	return fmt.Sprintf("Cannot update these configs dynamically: [%s]", e.Key)
}

// ValidateBrokerDynamic checks configs sent with AlterConfigs or
// IncrementalAlterConfigs for a broker resource: every key must be a
// broker key that may change at run time, and every value must be valid.
// Keys are checked in sorted order.
func ValidateBrokerDynamic(m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d, ok := brokerIndex[k]
		if !ok {
			return fmt.Errorf("Unknown broker config name: %s", k)
		}
		if !d.Dynamic {
			return NotDynamicError{Key: k}
		}
		if err := d.Check(m[k]); err != nil {
			return err
		}
	}
	return nil
}
