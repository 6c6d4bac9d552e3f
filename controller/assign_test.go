package controller

import (
	"slices"
	"testing"
)

func brokers(racks ...string) map[int32]BrokerInfo {
	m := map[int32]BrokerInfo{}
	for i, r := range racks {
		m[int32(i)] = BrokerInfo{ID: int32(i), Rack: r}
	}
	return m
}

func zero(int) int { return 0 }

func TestAssignRoundRobin(t *testing.T) {
	a := newAssigner(brokers("", "", "", "", ""))
	got, err := a.assign(10, 3, 0, 0, zero)
	if err != nil {
		t.Fatal(err)
	}
	// Start 0, shift 0: leaders walk the brokers; followers sit right after
	// the leader; after n partitions the shift grows by one.
	want := [][]int32{
		{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 0}, {4, 0, 1},
		{0, 2, 3}, {1, 3, 4}, {2, 4, 0}, {3, 0, 1}, {4, 1, 2},
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("partition %d: got %v want %v (all %v)", i, got[i], want[i], got)
		}
	}
	// Leaders are balanced and every list is duplicate-free, with random
	// start and shift too.
	for range 20 {
		got, _ := newAssigner(brokers("", "", "", "", "", "")).assign(60, 3, 0, -1, nil)
		leaders := map[int32]int{}
		for _, r := range got {
			leaders[r[0]]++
			s := slices.Clone(r)
			slices.Sort(s)
			if len(slices.Compact(s)) != 3 {
				t.Fatalf("duplicate replica in %v", r)
			}
		}
		for b, n := range leaders {
			if n != 10 {
				t.Fatalf("broker %d leads %d of 60", b, n)
			}
		}
	}
}

func TestAssignRackAware(t *testing.T) {
	// Racks a,a,b,b,c,c: every partition of rf 3 spans all three racks.
	bs := brokers("a", "a", "b", "b", "c", "c")
	for range 20 {
		got, err := newAssigner(bs).assign(12, 3, 0, -1, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			racks := map[string]bool{}
			for _, b := range r {
				racks[bs[b].Rack] = true
			}
			if len(racks) != 3 {
				t.Fatalf("replicas %v cover racks %v", r, racks)
			}
		}
	}
	// Two racks, rf 3: racks alternate, the third replica reuses a rack
	// but never a broker.
	bs = brokers("a", "b", "a", "b")
	got, _ := newAssigner(bs).assign(8, 3, 0, -1, nil)
	for _, r := range got {
		s := slices.Clone(r)
		slices.Sort(s)
		if len(slices.Compact(s)) != 3 || bs[r[0]].Rack == bs[r[1]].Rack {
			t.Fatalf("replicas %v", r)
		}
	}
	// Arranged list interleaves racks.
	if a := newAssigner(brokers("a", "a", "b", "c")); !slices.Equal(a.ids, []int32{0, 2, 3, 1}) {
		t.Fatalf("arranged %v", a.ids)
	}
	// Some brokers without rack: racks ignored.
	if a := newAssigner(brokers("a", "", "b")); a.racks != nil {
		t.Fatal("partial rack info used")
	}
}

func TestAssignErrors(t *testing.T) {
	if _, err := newAssigner(brokers("", "")).assign(1, 3, 0, -1, nil); err == nil {
		t.Fatal("rf > brokers accepted")
	}
	if _, err := newAssigner(nil).assign(1, 1, 0, -1, nil); err == nil {
		t.Fatal("no brokers accepted")
	}
}

func TestElectLeader(t *testing.T) {
	liveSet := func(ids ...int32) func(int32) bool {
		return func(b int32) bool { return slices.Contains(ids, b) }
	}
	base := Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 5}
	for _, tc := range []struct {
		name    string
		p       Partition
		live    []int32
		unclean bool
		leader  int32
		isr     []int32
		epoch   int32
		changed bool
	}{
		{"all live", base, []int32{1, 2, 3}, false, 1, []int32{1, 2, 3}, 5, false},
		{"leader dies", base, []int32{2, 3}, false, 2, []int32{2, 3}, 6, true},
		{"follower dies", base, []int32{1, 3}, false, 1, []int32{1, 3}, 5, true},
		{"all die: last ISR kept", Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2}, nil, false, -1, []int32{1}, 3, true},
		{"out-of-sync replica only, clean", Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}, []int32{2}, false, -1, []int32{1}, 1, true},
		{"out-of-sync replica only, unclean", Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}, []int32{2}, true, 2, []int32{2}, 1, true},
		{"offline ISR member returns", Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 3}, []int32{1, 2}, false, 1, []int32{1}, 4, true},
		{"preferred back in ISR", Partition{Replicas: []int32{1, 2}, ISR: []int32{2, 1}, Leader: 2, LeaderEpoch: 3}, []int32{1, 2}, false, 1, []int32{2, 1}, 4, true},
		{"preferred live but not in ISR", Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 3}, []int32{1, 2}, false, 2, []int32{2}, 3, false},
	} {
		np, changed := electLeader(tc.p, liveSet(tc.live...), tc.unclean, true)
		if np.Leader != tc.leader || !slices.Equal(np.ISR, tc.isr) || np.LeaderEpoch != tc.epoch || changed != tc.changed {
			t.Errorf("%s: got leader %d isr %v epoch %d changed %v", tc.name, np.Leader, np.ISR, np.LeaderEpoch, changed)
		}
	}
	// Rebalance off: no move back to the preferred replica.
	p := Partition{Replicas: []int32{1, 2}, ISR: []int32{2, 1}, Leader: 2}
	if _, changed := electLeader(p, liveSet(1, 2), false, false); changed {
		t.Error("preferred election with rebalance off")
	}
}
