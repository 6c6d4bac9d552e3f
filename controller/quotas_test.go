package controller

import (
	"fmt"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"
	"github.com/runnel/runnel/quota"
)

// TestQuotaEntityKeyRoundTrip: every entity shape, including names with
// the key's separators and a user literally named <default>, survives
// the key encoding, and the default stays distinct from that name.
func TestQuotaEntityKeyRoundTrip(t *testing.T) {
	for _, e := range []QuotaEntity{
		{User: quota.Named("alice")},
		{User: quota.DefaultName},
		{User: quota.Named("<default>")},
		{User: quota.Named("a&b=c/d%"), ClientID: quota.Named("x y")},
		{User: quota.DefaultName, ClientID: quota.DefaultName},
		{ClientID: quota.Named("")},
		{IP: quota.Named("10.0.0.1")},
		{IP: quota.DefaultName},
	} {
		got, ok := parseQuotaEntity(e.String())
		if !ok || got != e {
			t.Errorf("%q: parsed %+v %v, want %+v", e.String(), got, ok, e)
		}
	}
	for _, bad := range []string{"", "user", "user=a&user=b", "group=x", "user=%zz"} {
		if _, ok := parseQuotaEntity(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestClientQuotasExternalEtcd: an alteration of 250 entities (more than
// one etcd transaction of an etcd with its default 128 operations) is
// stored one key an entity and reaches another controller's snapshot;
// setting and removing keys merge with what is stored; an entity left
// with no key is deleted; an unchanged snapshot keeps its pointer.
func TestClientQuotasExternalEtcd(t *testing.T) {
	e := testenv.StartEtcdProcess(t)
	a := openExternal(t, e.URL, 1, 5*time.Second)
	defer a.Close()
	b := openExternal(t, e.URL, 2, 5*time.Second)
	defer b.Close()
	ctx := testCtx(t)

	var alts []QuotaAlteration
	for i := range 250 {
		alts = append(alts, QuotaAlteration{
			Entity: QuotaEntity{User: quota.Named(fmt.Sprintf("tenant-%d", i)), ClientID: quota.DefaultName},
			Set:    map[string]float64{"producer_byte_rate": float64(1000 + i), "consumer_byte_rate": 2000},
		})
	}
	rev, err := a.AlterClientQuotas(ctx, alts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	got := b.Snapshot().ClientQuotas.Entities
	if len(got) != 250 {
		t.Fatalf("%d entities, want 250", len(got))
	}
	if q := got[alts[7].Entity]; q["producer_byte_rate"] != 1007 || q["consumer_byte_rate"] != 2000 {
		t.Fatalf("tenant-7: %v", q)
	}

	// Merge: remove one key, set another, keep the third.
	rev, err = a.AlterClientQuotas(ctx, []QuotaAlteration{{
		Entity: alts[7].Entity, Remove: []string{"consumer_byte_rate"}, Set: map[string]float64{"request_percentage": 50},
	}, {
		Entity: alts[8].Entity, Remove: []string{"consumer_byte_rate", "producer_byte_rate"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	got = b.Snapshot().ClientQuotas.Entities
	if q := got[alts[7].Entity]; len(q) != 2 || q["producer_byte_rate"] != 1007 || q["request_percentage"] != 50 {
		t.Fatalf("tenant-7 after merge: %v", q)
	}
	if _, ok := got[alts[8].Entity]; ok || len(got) != 249 {
		t.Fatalf("tenant-8 not deleted (%d entities)", len(got))
	}

	// A no-op alteration writes nothing.
	if rev, err := a.AlterClientQuotas(ctx, []QuotaAlteration{{Entity: alts[9].Entity, Set: map[string]float64{"producer_byte_rate": 1009}}}); err != nil || rev != 0 {
		t.Fatalf("empty alteration: rev %d, %v", rev, err)
	}
	before := b.Snapshot().ClientQuotas
	rev, err = a.SetBrokerConfigs(ctx, "", map[string]string{"log.retention.ms": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if b.Snapshot().ClientQuotas != before {
		t.Fatal("snapshot without a quota change rebuilt the quotas")
	}
}
