package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Type is a config's value type, numbered as DescribeConfigs reports it
// (kmsg.ConfigType: BOOLEAN=1 … PASSWORD=9).
type Type = kmsg.ConfigType

// The value types Kafka's ConfigDef knows.
const (
	Boolean  Type = kmsg.ConfigTypeBoolean
	String   Type = kmsg.ConfigTypeString
	Int      Type = kmsg.ConfigTypeInt
	Short    Type = kmsg.ConfigTypeShort
	Long     Type = kmsg.ConfigTypeLong
	Double   Type = kmsg.ConfigTypeDouble
	List     Type = kmsg.ConfigTypeList
	Class    Type = kmsg.ConfigTypeClass
	Password Type = kmsg.ConfigTypePassword
)

// Source says where a described value came from, numbered as
// DescribeConfigs reports it (kmsg.ConfigSource).
type Source = kmsg.ConfigSource

// The sources a DescribeConfigs entry or synonym can carry.
const (
	SourceTopic          Source = kmsg.ConfigSourceDynamicTopicConfig         // 1: topic override
	SourceDynamicBroker  Source = kmsg.ConfigSourceDynamicBrokerConfig        // 2: dynamic, this broker
	SourceDynamicDefault Source = kmsg.ConfigSourceDynamicDefaultBrokerConfig // 3: dynamic, cluster-wide default
	SourceStatic         Source = kmsg.ConfigSourceStaticBrokerConfig         // 4: server.properties / env / --override
	SourceDefault        Source = kmsg.ConfigSourceDefaultConfig              // 5: built-in default
	SourceGroup          Source = kmsg.ConfigSourceGroupConfig                // 8: group override (GROUP resource)
)

// Synonym is a broker key that supplies a topic key's value when the topic
// has no override, with the factor that turns its unit into the topic
// key's (log.retention.hours → retention.ms is 3 600 000).
type Synonym struct {
	Name  string
	Scale int64
}

// Def defines one configuration key: its name, type, default as Kafka
// prints it, documentation, and the range or set its values must fall in.
type Def struct {
	Name string
	Type Type
	// Default is the default value as Kafka prints it. When Null is set
	// the default is Java's null (no value) and Default is "".
	Default string
	Null    bool
	Doc     string
	// Validate checks a value that has already parsed as Type (see
	// Def.Check); nil means any value of the type is allowed. Its error
	// text completes "Invalid value V for configuration K: ".
	Validate  func(string) error
	Sensitive bool
	// Dynamic broker keys may be changed at run time (AlterConfigs on a
	// broker resource); the others are read-only in DescribeConfigs.
	// Topic keys are always alterable.
	Dynamic bool
	// Synonyms, for a topic key, are the broker keys that supply its
	// default, highest precedence first.
	Synonyms []Synonym
}

// ReadOnly reports whether DescribeConfigs marks a broker key read-only.
func (d *Def) ReadOnly() bool { return !d.Dynamic }

// DefaultValue returns the default as DescribeConfigs reports it: nil when
// the default is null.
func (d *Def) DefaultValue() *string {
	if d.Null {
		return nil
	}
	v := d.Default
	return &v
}

// ValueError is a value that does not parse as its key's type or falls
// outside its range. The broker answers it with INVALID_CONFIG.
type ValueError struct {
	Key, Value, Problem string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("Invalid value %s for configuration %s: %s", e.Value, e.Key, e.Problem)
}

// UnknownKeyError is a topic key Kafka does not define (INVALID_CONFIG).
type UnknownKeyError struct {
	Key, Why string
}

func (e *UnknownKeyError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("Unknown topic config name: %s (%s)", e.Key, e.Why)
	}
	return "Unknown topic config name: " + e.Key
}

// Check parses v as the key's type and applies its validator. The error,
// if any, is a *ValueError naming the key.
func (d *Def) Check(v string) error {
	shown := v
	if d.Sensitive {
		// Error messages are logged and returned to clients; a secret
		// must not appear in them.
		shown = "[hidden]"
	}
	canon, err := Canonical(d.Type, v)
	if err != nil {
		return &ValueError{Key: d.Name, Value: shown, Problem: err.Error()}
	}
	if d.Validate != nil {
		if err := d.Validate(canon); err != nil {
			return &ValueError{Key: d.Name, Value: shown, Problem: err.Error()}
		}
	}
	return nil
}

// Canonical parses v as type t and returns it printed the way Kafka prints
// a parsed value: numbers and booleans trimmed and normalised, lists
// trimmed and joined with ",", doubles in Java's notation.
func Canonical(t Type, v string) (string, error) {
	s := strings.TrimSpace(v)
	switch t {
	case Boolean:
		switch strings.ToLower(s) {
		case "true":
			return "true", nil
		case "false":
			return "false", nil
		}
		return "", fmt.Errorf("Expected value to be either true or false")
	case Int:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return "", fmt.Errorf("Not a number of type INT")
		}
		return strconv.FormatInt(n, 10), nil
	case Short:
		n, err := strconv.ParseInt(s, 10, 16)
		if err != nil {
			return "", fmt.Errorf("Not a number of type SHORT")
		}
		return strconv.FormatInt(n, 10), nil
	case Long:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "", fmt.Errorf("Not a number of type LONG")
		}
		return strconv.FormatInt(n, 10), nil
	case Double:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) {
			return "", fmt.Errorf("Not a number of type DOUBLE")
		}
		return JavaDouble(f), nil
	case List:
		return strings.Join(SplitList(s), ","), nil
	case Class, String:
		return s, nil
	case Password:
		return v, nil
	}
	return "", fmt.Errorf("unknown config type %v", t)
}

// SplitList splits a LIST value the way Kafka does: on commas, each item
// trimmed; an empty or all-blank value is the empty list.
func SplitList(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// JavaDouble prints f as Java's Double.toString does (0.5, 1.0E7,
// 1.7976931348623157E308), which is how Kafka prints DOUBLE configs.
func JavaDouble(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	a := math.Abs(f)
	if a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1.7976931348623157e+308
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimPrefix(exp, "-"), "0")
	if exp == "" {
		exp = "0"
	}
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}

// ---- validators (the values they see are already Canonical) ----

func atLeast(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil && n < min {
			return fmt.Errorf("Value must be at least %d", min)
		}
		return nil
	}
}

func between(min, max int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil && (n < min || n > max) {
			return fmt.Errorf("Value must be no less than %d and no more than %d", min, max)
		}
		return nil
	}
}

func betweenFloat(min, max float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err == nil && (f < min || f > max) {
			return fmt.Errorf("Value must be no less than %s and no more than %s", JavaDouble(min), JavaDouble(max))
		}
		return nil
	}
}

// oneOf accepts exactly one of the given strings (case-sensitive, as
// Kafka's ValidString).
// subsystemLevels checks runnel.log.levels: name=level pairs.
func subsystemLevels(v string) error {
	_, err := ParseSubsystemLevels(v)
	return err
}

// ParseSubsystemLevels reads runnel.log.levels ("controller=debug,
// etcd=warn") into logger name → level name.
func ParseSubsystemLevels(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, level, ok := strings.Cut(pair, "=")
		name, level = strings.TrimSpace(name), strings.TrimSpace(level)
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not name=level", pair)
		}
		switch level {
		case "debug", "info", "warn", "error":
		default:
			return nil, fmt.Errorf("%q: level must be debug, info, warn or error", pair)
		}
		out[name] = level
	}
	return out, nil
}

func oneOf(allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("String must be one of: %s", strings.Join(allowed, ", "))
	}
}

// listOf accepts a list whose every item is one of the given strings; an
// empty list is allowed only if emptyOK.
func listOf(emptyOK bool, allowed ...string) func(string) error {
	return func(v string) error {
		items := SplitList(v)
		if len(items) == 0 && !emptyOK {
			return fmt.Errorf("Value must not be empty; allowed values: [%s]", strings.Join(allowed, ", "))
		}
	next:
		for _, it := range items {
			for _, a := range allowed {
				if it == a {
					continue next
				}
			}
			return fmt.Errorf("Invalid value %s; allowed values: [%s]", it, strings.Join(allowed, ", "))
		}
		return nil
	}
}

// levelIn accepts [min,max] plus the extra values given (gzip's -1).
func levelIn(min, max int64, extra ...int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil
		}
		if n >= min && n <= max {
			return nil
		}
		for _, e := range extra {
			if n == e {
				return nil
			}
		}
		if len(extra) > 0 {
			return fmt.Errorf("Value must be in [%d,...,%d] or %d", min, max, extra[0])
		}
		return fmt.Errorf("Value must be in [%d,...,%d]", min, max)
	}
}

// throttledReplicas accepts "*" or a list of partition:broker pairs.
func throttledReplicas(v string) error {
	items := SplitList(v)
	if len(items) == 1 && items[0] == "*" {
		return nil
	}
	for _, it := range items {
		p, b, ok := strings.Cut(it, ":")
		if !ok || !isDigits(p) || !isDigits(b) {
			return fmt.Errorf("must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
		}
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("Value must not be empty")
	}
	return nil
}

// all runs validators in turn.
func all(fs ...func(string) error) func(string) error {
	return func(v string) error {
		for _, f := range fs {
			if err := f(v); err != nil {
				return err
			}
		}
		return nil
	}
}
