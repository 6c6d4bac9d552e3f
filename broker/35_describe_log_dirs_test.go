package broker

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeLogDirs(t *testing.T) {
	tb := startTestBroker(t)
	ctx := testCtx(t)
	adm := tb.admin(t)
	if _, err := adm.CreateTopics(ctx, 2, 1, nil, "ld-a", "ld-b"); err != nil {
		t.Fatal(err)
	}

	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[tb.ID()]
	if len(dirs) != 1 {
		t.Fatalf("%+v", all)
	}
	for _, d := range dirs {
		if d.Err != nil || d.Dir != tb.cfg.LogDirs[0] || len(d.Topics["ld-a"]) != 2 || len(d.Topics["ld-b"]) != 2 {
			t.Fatalf("%+v", d)
		}
	}

	some, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"ld-b": {1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range some[tb.ID()] {
		if len(d.Topics) != 1 || len(d.Topics["ld-b"]) != 1 {
			t.Fatalf("filtered %+v", d.Topics)
		}
	}

	kresp, err := tb.client(t).Broker(int(tb.ID())).Request(ctx, kmsg.NewPtrDescribeLogDirsRequest())
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.DescribeLogDirsResponse)
	if len(resp.Dirs) != 1 || resp.Dirs[0].TotalBytes <= 0 || resp.Dirs[0].UsableBytes <= 0 ||
		resp.Dirs[0].UsableBytes > resp.Dirs[0].TotalBytes {
		t.Fatalf("%v %+v", err, resp)
	}

	sa := tb.saramaAdmin(t)
	sd, err := sa.DescribeLogDirs([]int32{tb.ID()})
	if err != nil || len(sd[tb.ID()]) != 1 || sd[tb.ID()][0].ErrorCode != sarama.ErrNoError || len(sd[tb.ID()][0].Topics) != 2 {
		t.Fatalf("sarama: %v %+v", err, sd)
	}
}
