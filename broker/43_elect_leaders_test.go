package broker

import (
	"errors"
	"slices"
	"testing"

	"github.com/runnel/runnel/controller"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestElectFor(t *testing.T) {
	live := func(ids ...int32) map[int32]controller.BrokerInfo {
		m := map[int32]controller.BrokerInfo{}
		for _, id := range ids {
			m[id] = controller.BrokerInfo{ID: id}
		}
		return m
	}
	base := controller.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3, 1}, Leader: 2, LeaderEpoch: 4}
	for _, tc := range []struct {
		name    string
		p       controller.Partition
		live    map[int32]controller.BrokerInfo
		unclean bool
		err     error
		leader  int32
		isr     []int32
	}{
		{"preferred moves back", base, live(1, 2, 3), false, nil, 1, []int32{2, 3, 1}},
		{"preferred already leads", controller.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}, live(1, 2), false, kerr.ElectionNotNeeded, 1, nil},
		{"preferred not in ISR", controller.Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2}, live(1, 2), false, kerr.PreferredLeaderNotAvailable, 2, nil},
		{"preferred not live", base, live(2, 3), false, kerr.PreferredLeaderNotAvailable, 2, nil},
		{"unclean with live leader", base, live(1, 2, 3), true, kerr.ElectionNotNeeded, 2, nil},
		{"unclean, clean candidate first", controller.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, Leader: -1, LeaderEpoch: 2}, live(2, 3), true, nil, 3, []int32{3}},
		{"unclean, out-of-sync replica", controller.Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 2}, live(2), true, nil, 2, []int32{2}},
		{"unclean, nobody live", controller.Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: -1}, live(), true, kerr.EligibleLeadersNotAvailable, -1, nil},
	} {
		np, err := electFor(tc.p, tc.live, tc.unclean)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if np.Leader != tc.leader || !slices.Equal(np.ISR, tc.isr) || np.LeaderEpoch != tc.p.LeaderEpoch+1 {
			t.Errorf("%s: leader %d isr %v epoch %d", tc.name, np.Leader, np.ISR, np.LeaderEpoch)
		}
	}
}
