package broker

import (
	"context"
	"path/filepath"
	"slices"

	"github.com/runnel/runnel/network"

	"github.com/runnel/runnel/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// describeLogDirsMaxVersion is the highest DescribeLogDirs version served.
const describeLogDirsMaxVersion int16 = 5

// handleDescribeLogDirs answers DescribeLogDirs v1–v5 for this broker's
// log dir (Runnel uses the first of log.dirs): the size on disk of each
// local partition of the requested topics (all of them for a null list),
// an offset lag of 0 (Runnel reports no lag here, as Kafka does for a
// partition that is not a future replica), and from v4 the file system's
// total and usable bytes. Partitions not hosted here are left out, as in
// Kafka. A failed log dir (logdir_failure.go), or a file system that
// cannot be read, is KAFKA_STORAGE_ERROR on the dir.
func (b *Broker) handleDescribeLogDirs(_ context.Context, cc *network.ConnContext, req *protocol.Request) (network.Response, error) {
	r := req.Body.(*kmsg.DescribeLogDirsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !b.authorizeCluster(cc, kmsg.ACLOperationDescribe) {
		// Kafka: no dirs, and (v3+) the error at the top.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return network.Response{Msg: resp}, nil
	}

	dirName := b.cfg.LogDirs[0]
	if abs, err := filepath.Abs(dirName); err == nil {
		dirName = abs
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = dirName
	dir.TotalBytes, dir.UsableBytes = -1, -1
	var st unix.Statfs_t
	if b.LogDirError() != nil {
		// An offline log dir: Kafka lists it with the error and no
		// partitions.
		dir.ErrorCode = kerr.KafkaStorageError.Code
		dir.Topics = []kmsg.DescribeLogDirsResponseDirTopic{}
		resp.Dirs = append(resp.Dirs, dir)
		return network.Response{Msg: resp}, nil
	}
	if err := unix.Statfs(dirName, &st); err != nil {
		dir.ErrorCode = kerr.KafkaStorageError.Code
	} else {
		dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	}

	// want(topic, partition) says whether the request asks for it.
	want := func(string, int32) bool { return true }
	if r.Topics != nil {
		asked := map[string]map[int32]bool{}
		for _, t := range r.Topics {
			if asked[t.Topic] == nil {
				asked[t.Topic] = map[int32]bool{}
			}
			for _, p := range t.Partitions {
				asked[t.Topic][p] = true
			}
		}
		want = func(topic string, p int32) bool { return asked[topic][p] }
	}

	byTopic := map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
	for _, rep := range b.replicas.All() {
		if !want(rep.Topic(), rep.Index()) {
			continue
		}
		p := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		p.Partition, p.Size, p.OffsetLag = rep.Index(), rep.Log().Size(), 0
		byTopic[rep.Topic()] = append(byTopic[rep.Topic()], p)
	}
	topics := make([]string, 0, len(byTopic))
	for t := range byTopic {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	dir.Topics = []kmsg.DescribeLogDirsResponseDirTopic{}
	for _, t := range topics {
		parts := byTopic[t]
		slices.SortFunc(parts, func(a, b kmsg.DescribeLogDirsResponseDirTopicPartition) int { return int(a.Partition - b.Partition) })
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic, dt.Partitions = t, parts
		dir.Topics = append(dir.Topics, dt)
	}
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	return network.Response{Msg: resp}, nil
}
