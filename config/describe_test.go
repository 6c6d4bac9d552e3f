package config

import (
	"reflect"
	"testing"
)

func entryByName(t *testing.T, es []Entry, name string) Entry {
	t.Helper()
	for _, e := range es {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %s", name)
	return Entry{}
}

func val(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

type syn3 struct {
	Name, Value string
	Source      Source
}

func syns(e Entry) []syn3 {
	var out []syn3
	for _, s := range e.Synonyms {
		out = append(out, syn3{s.Name, val(s.Value), s.Source})
	}
	return out
}

func TestDescribeTopicDefaults(t *testing.T) {
	b, _ := mustLoad(t, "", nil, nil)
	es := DescribeTopic(b, Dynamic{}, nil)
	if len(es) != len(TopicDefs()) {
		t.Fatalf("%d entries", len(es))
	}
	for _, e := range es {
		if e.Doc == "" || e.ReadOnly || e.Type == 0 {
			t.Errorf("%s: %+v", e.Name, e)
		}
		if e.Source != SourceDefault {
			t.Errorf("%s: source %v", e.Name, e.Source)
		}
	}
	seg := entryByName(t, es, SegmentBytes)
	if val(seg.Value) != "1073741824" || !reflect.DeepEqual(syns(seg), []syn3{{"log.segment.bytes", "1073741824", SourceDefault}}) {
		t.Errorf("segment.bytes %s %v", val(seg.Value), syns(seg))
	}
	ret := entryByName(t, es, RetentionMs)
	if val(ret.Value) != "604800000" || !reflect.DeepEqual(syns(ret), []syn3{{"log.retention.hours", "168", SourceDefault}}) {
		t.Errorf("retention.ms %s %v", val(ret.Value), syns(ret))
	}
	thr := entryByName(t, es, LeaderReplicationThrottledReplicas)
	if val(thr.Value) != "" || len(thr.Synonyms) != 0 || thr.Type != List {
		t.Errorf("throttled %+v", thr)
	}
	if e := entryByName(t, es, MinCleanableDirtyRatio); val(e.Value) != "0.5" || e.Type != Double {
		t.Errorf("ratio %+v", e)
	}
}

func TestDescribeTopicSourcesAndSynonyms(t *testing.T) {
	b, _ := mustLoad(t, "", nil, []string{"log.retention.hours=24", "log.segment.bytes=2097152", "message.max.bytes=2000000"})
	dyn := Dynamic{
		PerBroker:      map[string]string{"log.retention.ms": "1000"},
		ClusterDefault: map[string]string{"log.retention.ms": "2000", "log.segment.bytes": "3145728"},
	}
	es := DescribeTopic(b, dyn, map[string]string{RetentionMs: "500"})

	ret := entryByName(t, es, RetentionMs)
	wantRet := []syn3{
		{RetentionMs, "500", SourceTopic},
		{"log.retention.ms", "1000", SourceDynamicBroker},
		{"log.retention.ms", "2000", SourceDynamicDefault},
		{"log.retention.hours", "24", SourceStatic},
		{"log.retention.hours", "168", SourceDefault},
	}
	if val(ret.Value) != "500" || ret.Source != SourceTopic || !reflect.DeepEqual(syns(ret), wantRet) {
		t.Errorf("retention.ms = %s (%v)\n%v", val(ret.Value), ret.Source, syns(ret))
	}
	seg := entryByName(t, es, SegmentBytes)
	if val(seg.Value) != "3145728" || seg.Source != SourceDynamicDefault {
		t.Errorf("segment.bytes = %s (%v)", val(seg.Value), seg.Source)
	}
	mmb := entryByName(t, es, MaxMessageBytes)
	if val(mmb.Value) != "2000000" || mmb.Source != SourceStatic ||
		!reflect.DeepEqual(syns(mmb), []syn3{{"message.max.bytes", "2000000", SourceStatic}, {"message.max.bytes", "1048588", SourceDefault}}) {
		t.Errorf("max.message.bytes = %s (%v) %v", val(mmb.Value), mmb.Source, syns(mmb))
	}

	// Without the override and dynamic values, the static hours apply,
	// scaled to milliseconds.
	es = DescribeTopic(b, Dynamic{}, nil)
	ret = entryByName(t, es, RetentionMs)
	if val(ret.Value) != "86400000" || ret.Source != SourceStatic {
		t.Errorf("retention.ms = %s (%v)", val(ret.Value), ret.Source)
	}
}

func TestEffectiveTopic(t *testing.T) {
	b, _ := mustLoad(t, "", nil, []string{"log.retention.minutes=10", "log.cleanup.policy=compact", "log.roll.hours=1"})
	tc, err := EffectiveTopic(b, Dynamic{ClusterDefault: map[string]string{"min.insync.replicas": "2"}},
		map[string]string{MessageTimestampType: "LogAppendTime", SegmentBytes: "1048576"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.RetentionMs != 600000 || !tc.Compact || tc.Delete || tc.SegmentMs != 3600000 || tc.SegmentBytes != 1<<20 ||
		!tc.LogAppendTime || tc.MinInsyncReplicas != 2 || tc.MaxMessageBytes != 1048588 || tc.MinCleanableDirtyRatio != 0.5 ||
		tc.CompressionType != "producer" || tc.RetentionBytes != -1 || tc.IndexIntervalBytes != 4096 {
		t.Errorf("%+v", tc)
	}
	if _, err := EffectiveTopic(b, Dynamic{}, map[string]string{SegmentBytes: "1"}); err == nil {
		t.Error("bad override accepted")
	}
	b, _ = mustLoad(t, "", nil, []string{"log.retention.ms=-1"})
	if tc, _ := EffectiveTopic(b, Dynamic{}, nil); tc.RetentionMs != -1 {
		t.Errorf("retention %d", tc.RetentionMs)
	}
}

func TestDescribeBroker(t *testing.T) {
	b, _ := mustLoad(t, "", nil, []string{"log.retention.ms=5000", "num.partitions=3"})
	es := DescribeBroker(b, Dynamic{PerBroker: map[string]string{"num.io.threads": "4"}, ClusterDefault: map[string]string{"num.io.threads": "6"}})
	if len(es) != len(BrokerDefs()) {
		t.Fatalf("%d entries", len(es))
	}
	np := entryByName(t, es, "num.partitions")
	if val(np.Value) != "3" || np.Source != SourceStatic || !np.ReadOnly ||
		!reflect.DeepEqual(syns(np), []syn3{{"num.partitions", "3", SourceStatic}, {"num.partitions", "1", SourceDefault}}) {
		t.Errorf("num.partitions %+v %v", np, syns(np))
	}
	io := entryByName(t, es, "num.io.threads")
	if val(io.Value) != "4" || io.Source != SourceDynamicBroker || io.ReadOnly ||
		!reflect.DeepEqual(syns(io), []syn3{{"num.io.threads", "4", SourceDynamicBroker}, {"num.io.threads", "6", SourceDynamicDefault}, {"num.io.threads", "8", SourceDefault}}) {
		t.Errorf("num.io.threads %+v %v", io, syns(io))
	}
	rms := entryByName(t, es, "log.retention.ms")
	if val(rms.Value) != "5000" || rms.Source != SourceStatic ||
		!reflect.DeepEqual(syns(rms), []syn3{{"log.retention.ms", "5000", SourceStatic}, {"log.retention.hours", "168", SourceDefault}}) {
		t.Errorf("log.retention.ms %v %v", val(rms.Value), syns(rms))
	}
	// As in Kafka, describing the lower-precedence key drops the synonyms above it.
	rh := entryByName(t, es, "log.retention.hours")
	if val(rh.Value) != "168" || rh.Source != SourceDefault || !reflect.DeepEqual(syns(rh), []syn3{{"log.retention.hours", "168", SourceDefault}}) {
		t.Errorf("log.retention.hours %v %v", val(rh.Value), syns(rh))
	}
	rack := entryByName(t, es, "broker.rack")
	if rack.Value != nil || rack.Source != SourceDefault || len(rack.Synonyms) != 0 {
		t.Errorf("broker.rack %+v", rack)
	}

	def := DescribeBrokerDefaults(Dynamic{ClusterDefault: map[string]string{"num.io.threads": "6", "bogus": "1"}})
	if len(def) != 1 || def[0].Name != "num.io.threads" || val(def[0].Value) != "6" || def[0].Source != SourceDynamicDefault ||
		!reflect.DeepEqual(syns(def[0]), []syn3{{"num.io.threads", "6", SourceDynamicDefault}}) {
		t.Errorf("defaults %+v", def)
	}
}

func TestValidateBrokerDynamic(t *testing.T) {
	if err := ValidateBrokerDynamic(map[string]string{"log.retention.ms": "100", "num.io.threads": "2"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]string{
		{"log.retention.hours": "1"}, // not dynamic in Kafka
		{"broker.id": "3"},
		{"nope": "1"},
		{"num.io.threads": "0"},
	} {
		if err := ValidateBrokerDynamic(m); err == nil {
			t.Errorf("%v accepted", m)
		}
	}
}
