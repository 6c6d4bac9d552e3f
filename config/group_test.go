package config

import "testing"

// TestValidateGroupConfigs checks group configs against the messages
// Kafka 4.1.1's GroupConfig validation gives for the same input (obtained
// by running its jars).
func TestValidateGroupConfigs(t *testing.T) {
	b, _ := mustLoad(t, "", nil, nil)
	cases := []struct {
		m    map[string]string
		want string // "" = valid
	}{
		{map[string]string{"consumer.session.timeout.ms": "50000"}, ""},
		{map[string]string{"consumer.session.timeout.ms": " 50000 "}, ""},
		{map[string]string{"consumer.session.timeout.ms": "50000", "consumer.heartbeat.interval.ms": "6000"}, ""},
		{map[string]string{"foo": "1"}, "Unknown group config name: foo"},
		{map[string]string{"consumer.session.timeout.ms": "abc"}, "Invalid value abc for configuration consumer.session.timeout.ms: Not a number of type INT"},
		{map[string]string{"consumer.session.timeout.ms": "0"}, "Invalid value 0 for configuration consumer.session.timeout.ms: Value must be at least 1"},
		{map[string]string{"consumer.session.timeout.ms": "1000"}, "consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"},
		{map[string]string{"consumer.session.timeout.ms": "70000"}, "consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms"},
		{map[string]string{"consumer.heartbeat.interval.ms": "1000"}, "consumer.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms"},
		{map[string]string{"consumer.heartbeat.interval.ms": "16000"}, "consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms"},
		{map[string]string{"share.record.lock.duration.ms": "999"}, "Invalid value 999 for configuration share.record.lock.duration.ms: Value must be at least 1000"},
		{map[string]string{"share.record.lock.duration.ms": "10000"}, "share.record.lock.duration.ms must be greater than or equal to group.share.min.record.lock.duration.ms"},
		{map[string]string{"share.isolation.level": "READ_COMMITTED"}, "Invalid value READ_COMMITTED for configuration share.isolation.level: String must be one of: read_committed, read_uncommitted"},
		{map[string]string{"share.isolation.level": "read_committed"}, ""},
		{map[string]string{"share.auto.offset.reset": "earliest"}, ""},
		{map[string]string{"share.auto.offset.reset": "by_duration:PT1H"}, ""},
		{map[string]string{"share.auto.offset.reset": "by_duration:pt1h"}, ""},
		{map[string]string{"share.auto.offset.reset": "by_duration:P1DT2H3M4.5S"}, ""},
		{map[string]string{"share.auto.offset.reset": "by_duration:-PT1H"}, "Invalid value by_duration:-PT1H for configuration share.auto.offset.reset: Invalid value `by_duration:-PT1H` for configuration share.auto.offset.reset. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."},
		{map[string]string{"share.auto.offset.reset": "BY_DURATION:PT1H"}, "Invalid value BY_DURATION:PT1H for configuration share.auto.offset.reset: Invalid value `BY_DURATION:PT1H` for configuration share.auto.offset.reset. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."},
		{map[string]string{"share.auto.offset.reset": "by_duration:"}, "Invalid value by_duration: for configuration share.auto.offset.reset: Invalid value `by_duration:` for configuration share.auto.offset.reset. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."},
		{map[string]string{"streams.num.standby.replicas": "3"}, "streams.num.standby.replicas must be less than or equal to group.streams.max.standby.replicas"},
		{map[string]string{"streams.session.timeout.ms": "50000", "streams.heartbeat.interval.ms": "15000"}, ""},
	}
	for _, c := range cases {
		err := b.ValidateGroupConfigs(c.m)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%v: got %q, want %q", c.m, got, c.want)
		}
	}

	// The bounds are the broker's: with a lower minimum a short session
	// timeout is accepted, and it must still exceed the heartbeat interval.
	low, _ := mustLoad(t, "", nil, []string{"group.consumer.min.session.timeout.ms=1000", "group.consumer.min.heartbeat.interval.ms=500"})
	if err := low.ValidateGroupConfigs(map[string]string{"consumer.session.timeout.ms": "2000", "consumer.heartbeat.interval.ms": "500"}); err != nil {
		t.Fatal(err)
	}
	if err := low.ValidateGroupConfigs(map[string]string{"consumer.session.timeout.ms": "2000"}); err == nil ||
		err.Error() != "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms" {
		t.Fatalf("session below the broker's heartbeat interval: %v", err)
	}
}

func TestISODuration(t *testing.T) {
	for _, c := range []struct {
		d       string
		neg, ok bool
	}{
		{"PT1H", false, true}, {"P2D", false, true}, {"PT0.5S", false, true}, {"PT-0.5S", true, true},
		{"-PT1H", true, true}, {"-PT-1H", false, true}, {"PT1M-59S", false, true}, {"PT0S", false, true},
		{"P", false, false}, {"PT", false, false}, {"P1DT", false, false}, {"1H", false, false}, {"PT1.5H", false, false},
	} {
		neg, ok := isoDurationNegative(c.d)
		if neg != c.neg || ok != c.ok {
			t.Errorf("%s: neg %v ok %v, want %v %v", c.d, neg, ok, c.neg, c.ok)
		}
	}
}

func TestDescribeGroup(t *testing.T) {
	b, _ := mustLoad(t, "", nil, []string{"group.consumer.session.timeout.ms=50000"})
	es := b.DescribeGroup(map[string]string{"consumer.heartbeat.interval.ms": " 6000"})
	if len(es) != len(groupDefs) {
		t.Fatalf("%d entries", len(es))
	}
	byName := map[string]Entry{}
	for _, e := range es {
		byName[e.Name] = e
	}
	if e := byName["consumer.session.timeout.ms"]; *e.Value != "50000" || e.Source != SourceDefault || len(e.Synonyms) != 1 || e.Synonyms[0].Source != SourceDefault {
		t.Fatalf("session timeout from the broker: %+v", e)
	}
	if e := byName["consumer.heartbeat.interval.ms"]; *e.Value != "6000" || e.Source != SourceGroup || e.Synonyms[0].Source != SourceGroup {
		t.Fatalf("heartbeat set on the group: %+v", e)
	}
	if e := byName["share.auto.offset.reset"]; *e.Value != "latest" || e.Type != String {
		t.Fatalf("share.auto.offset.reset: %+v", e)
	}
}
