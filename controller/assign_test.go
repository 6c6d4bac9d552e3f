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

// view is a snapshot with brokers registered at the given epochs (id →
// epoch) and the given ids seen to bounce by the controller loop.
func view(epochs map[int32]int64, bounced ...int32) brokerView {
	s := &Snapshot{Brokers: map[int32]BrokerInfo{}}
	for id, e := range epochs {
		s.Brokers[id] = BrokerInfo{ID: id, Epoch: e}
	}
	b := map[int32]bool{}
	for _, id := range bounced {
		b[id] = true
	}
	return brokerView{s: s, bounced: b}
}

// regAt registers ids at epoch 10, before the partition states of the
// table below (mod revision 100) were written.
func regAt(ids ...int32) map[int32]int64 {
	m := map[int32]int64{}
	for _, id := range ids {
		m[id] = 10
	}
	return m
}

func TestElectLeader(t *testing.T) {
	base := Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 5, LeaderBrokerEpoch: 10, ModRevision: 100}
	two := func(isr []int32, leader, epoch int32, lbe int64) Partition {
		return Partition{Replicas: []int32{1, 2}, ISR: isr, Leader: leader, LeaderEpoch: epoch, LeaderBrokerEpoch: lbe, ModRevision: 100}
	}
	for _, tc := range []struct {
		name    string
		p       Partition
		v       brokerView
		unclean bool
		leader  int32
		isr     []int32
		epoch   int32
		lbe     int64
		changed bool
	}{
		{"all live", base, view(regAt(1, 2, 3)), false, 1, []int32{1, 2, 3}, 5, 10, false},
		{"leader dies", base, view(regAt(2, 3)), false, 2, []int32{2, 3}, 6, 10, true},
		{"follower dies", base, view(regAt(1, 3)), false, 1, []int32{1, 3}, 5, 10, true},
		{"all die: last ISR kept", two([]int32{1}, 1, 2, 10), view(nil), false, -1, []int32{1}, 3, 0, true},
		{"out-of-sync replica only, clean", two([]int32{1}, 1, 0, 10), view(regAt(2)), false, -1, []int32{1}, 1, 0, true},
		{"out-of-sync replica only, unclean", two([]int32{1}, 1, 0, 10), view(regAt(2)), true, 2, []int32{2}, 1, 10, true},
		{"offline ISR member returns", two([]int32{1}, -1, 3, 0), view(map[int32]int64{1: 200, 2: 10}), false, 1, []int32{1}, 4, 200, true},
		{"preferred back in ISR", two([]int32{2, 1}, 2, 3, 10), view(regAt(1, 2)), false, 1, []int32{2, 1}, 4, 10, true},
		{"preferred live but not in ISR", two([]int32{2}, 2, 3, 10), view(regAt(1, 2)), false, 2, []int32{2}, 3, 10, false},

		// Bounced brokers: failure, then startup.
		{"leader bounced, seen by the loop", base, view(map[int32]int64{1: 150, 2: 10, 3: 10}, 1), false, 2, []int32{2, 3}, 6, 10, true},
		{"leader bounced, registered after the state", base, view(map[int32]int64{1: 150, 2: 10, 3: 10}), false, 2, []int32{2, 3}, 6, 10, true},
		{"leader bounced, state written since by someone else", Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 5, LeaderBrokerEpoch: 10, ModRevision: 300},
			view(map[int32]int64{1: 150, 2: 10, 3: 10}), false, 2, []int32{2, 3}, 6, 10, true},
		{"follower bounced", base, view(map[int32]int64{1: 10, 2: 10, 3: 150}), false, 1, []int32{1, 2}, 5, 10, true},
		{"follower bounced, seen by the loop", Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 5, LeaderBrokerEpoch: 10, ModRevision: 300},
			view(map[int32]int64{1: 10, 2: 10, 3: 150}, 3), false, 1, []int32{1, 2}, 5, 10, true},
		{"follower restarted, then put back in the ISR", Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 5, LeaderBrokerEpoch: 10, ModRevision: 300},
			view(map[int32]int64{1: 10, 2: 10, 3: 150}), false, 1, []int32{1, 2, 3}, 5, 10, false},
		{"leader bounced, the only ISR member: leads again in a new epoch", two([]int32{1}, 1, 5, 10), view(map[int32]int64{1: 150, 2: 10}), false, 1, []int32{1}, 6, 150, true},
		{"same, unclean allowed: still the clean choice", two([]int32{1}, 1, 5, 10), view(map[int32]int64{1: 150, 2: 10}), true, 1, []int32{1}, 6, 150, true},
		{"same, decided again before the loop forgets the bounce", two([]int32{1}, 1, 6, 150), view(map[int32]int64{1: 150, 2: 10}, 1), false, 1, []int32{1}, 6, 150, false},
		{"single broker restarted (RF=1)", Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 0, LeaderBrokerEpoch: 10, ModRevision: 100}, view(map[int32]int64{1: 150}, 1), false, 1, []int32{1}, 1, 150, true},
		{"leader and follower bounced, another dead", base, view(map[int32]int64{1: 150, 2: 160}), false, 1, []int32{1, 2}, 6, 150, true},
		{"state from an older Runnel (no broker epoch)", Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 2, LeaderEpoch: 5, ModRevision: 100}, view(regAt(1, 2, 3)), false, 1, []int32{1, 2, 3}, 6, 10, true},
		{"older state, rebalance would not move it", Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 5, ModRevision: 100}, view(regAt(1, 2)), false, 2, []int32{2}, 6, 10, true},
	} {
		np, changed := electLeader(tc.p, tc.v, tc.unclean, true)
		if np.Leader != tc.leader || !slices.Equal(np.ISR, tc.isr) || np.LeaderEpoch != tc.epoch || np.LeaderBrokerEpoch != tc.lbe || changed != tc.changed {
			t.Errorf("%s: got leader %d isr %v epoch %d broker epoch %d changed %v; want %d %v %d %d %v", tc.name,
				np.Leader, np.ISR, np.LeaderEpoch, np.LeaderBrokerEpoch, changed, tc.leader, tc.isr, tc.epoch, tc.lbe, tc.changed)
		}
	}
	// Rebalance off: no move back to the preferred replica.
	p := two([]int32{2, 1}, 2, 0, 10)
	if _, changed := electLeader(p, view(regAt(1, 2)), false, false); changed {
		t.Error("preferred election with rebalance off")
	}
	// A leader kept with rebalance off gets its broker epoch recorded.
	p = Partition{Replicas: []int32{1, 2}, ISR: []int32{2, 1}, Leader: 2, LeaderEpoch: 3, ModRevision: 100}
	if np, changed := electLeader(p, view(regAt(1, 2)), false, false); !changed || np.Leader != 2 || np.LeaderEpoch != 4 || np.LeaderBrokerEpoch != 10 {
		t.Errorf("older state, rebalance off: %+v %v", np, changed)
	}
}
