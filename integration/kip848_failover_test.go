package integration

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// venvPython is the interpreter of integration/.venv, where
// .ci/install-test-deps puts confluent-kafka from PyPI (a librdkafka with
// KIP-848; Debian's 2.0.2 has none).
func venvPython(t *testing.T) string {
	t.Helper()
	py, err := filepath.Abs(filepath.Join(".venv", "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(py, "-c", "import confluent_kafka; assert confluent_kafka.libversion()[1] >= 0x020c0000").Run(); err != nil {
		t.Fatalf("%s has no confluent-kafka with librdkafka 2.12+ (run `make test-deps`): %v", py, err)
	}
	return py
}

// consumption records which member consumed which record, and each
// member's partition changes.
type consumption struct {
	mu   sync.Mutex
	by   map[[2]int64][]string // (partition, offset) → members that consumed it
	last map[string]time.Time  // member → when it last consumed
	// Partitions some member gave up or lost while the group formed
	// (early) and after it had settled (late); closing ignores them.
	early, late map[int32]bool
	phase       int               // 0 forming, 1 settled, 2 closing
	memberID    map[string]string // member name → member id it reports
	idChange    []string          // member id changes seen
	events      []string          // assignments and revocations, timed
	start       time.Time
	at          map[[2]int64][]time.Duration // when each consumption happened
}

func newConsumption() *consumption {
	return &consumption{by: map[[2]int64][]string{}, last: map[string]time.Time{}, early: map[int32]bool{}, late: map[int32]bool{},
		memberID: map[string]string{}, start: time.Now(), at: map[[2]int64][]time.Duration{}}
}

func (c *consumption) record(member string, partition int32, offset int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.phase == 2 {
		// Closing: members leave and hand partitions over; what
		// they consume now was checked already.
		return
	}
	k := [2]int64{int64(partition), offset}
	c.by[k] = append(c.by[k], member)
	c.at[k] = append(c.at[k], time.Since(c.start).Round(time.Millisecond))
	c.last[member] = time.Now()
}

func (c *consumption) event(member, what string, partitions []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, fmt.Sprintf("%v %s %s %v", time.Since(c.start).Round(time.Millisecond), member, what, partitions))
}

func (c *consumption) gaveUp(member string, partitions ...int32) {
	c.event(member, "gave up", partitions)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range partitions {
		switch c.phase {
		case 0:
			c.early[p] = true
		case 1:
			c.late[p] = true
		}
	}
}

func (c *consumption) sawMemberID(member, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.memberID[member]; ok && old != id {
		c.idChange = append(c.idChange, fmt.Sprintf("%s: %s → %s", member, old, id))
	}
	c.memberID[member] = id
}

func (c *consumption) setPhase(p int) {
	c.mu.Lock()
	c.phase = p
	c.mu.Unlock()
}

// consumedSince reports whether every member consumed a record after t.
func (c *consumption) consumedSince(t time.Time, members []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range members {
		if !c.last[m].After(t) {
			return false
		}
	}
	return true
}

// TestKIP848CoordinatorFailover (issue 15 §3): on three brokers, two
// franz-go members, one librdkafka member (confluent-kafka-python,
// group.protocol=consumer) and one Java client member of one KIP-848 group consume a topic that a
// producer keeps writing; the group's coordinator is killed with SIGKILL.
// The broker that takes over the group's __consumer_offsets partition
// replays the group's records: every member keeps its member id and epoch
// (none rejoins, the group epoch does not move), no partition is ever in
// two members' current assignments, every member goes on consuming, and
// every record produced is consumed, none twice.
func TestKIP848CoordinatorFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test in -short mode")
	}
	py := venvPython(t)
	javaClasspath(t) // Kafka's Java client, or skip outside CI
	const topic, group, partitions = "kip848-ft", "kip848-ft", 6
	c := startCluster(t, 3,
		"min.insync.replicas=2", "default.replication.factor=3", "offsets.topic.replication.factor=3",
		"offsets.topic.num.partitions=6",
		"group.consumer.min.session.timeout.ms=1000", "group.consumer.session.timeout.ms=15000",
		"group.consumer.min.heartbeat.interval.ms=200", "group.consumer.heartbeat.interval.ms=500",
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	adm := c.replicatedTopic(ctx, topic, partitions)

	// The producer: records spread over every partition until stopped.
	prod := c.failoverProducer()
	var produced sync.Map // [2]int64 → true
	prodCtx, stopProducing := context.WithCancel(ctx)
	var prodDone sync.WaitGroup
	prodDone.Add(1)
	go func() {
		defer prodDone.Done()
		for i := 0; prodCtx.Err() == nil; i++ {
			r := &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(strconv.Itoa(i))}
			prod.Produce(prodCtx, r, func(r *kgo.Record, err error) {
				if err == nil {
					produced.Store([2]int64{int64(r.Partition), r.Offset}, true)
				}
			})
			time.Sleep(5 * time.Millisecond)
		}
		_ = prod.Flush(context.Background())
	}()

	seen := newConsumption()
	names := []string{"franz-1", "franz-2", "librdkafka", "java"}

	// Two franz-go members.
	var franz []*kgo.Client
	var pollers sync.WaitGroup
	pollCtx, stopPolling := context.WithCancel(ctx)
	for _, name := range names[:2] {
		name := name
		cl := c.client(
			kgo.ClientID(name),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.AutoCommitInterval(500*time.Millisecond),
			kgo.MetadataMinAge(200*time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
			kgo.DialTimeout(2*time.Second),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { seen.event(name, "assigned", m[topic]) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { seen.gaveUp(name, m[topic]...) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { seen.gaveUp(name, m[topic]...) }),
		)
		franz = append(franz, cl)
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			for pollCtx.Err() == nil {
				fs := cl.PollFetches(pollCtx)
				fs.EachRecord(func(r *kgo.Record) { seen.record(name, r.Partition, r.Offset) })
				if id, _ := cl.GroupMetadata(); id != "" {
					seen.sawMemberID(name, id)
				}
			}
		}()
	}

	// One librdkafka member.
	cmd := exec.Command(py, filepath.Join("testdata", "kip848_consume.py"), strings.Join(c.seeds(), ","), topic, group)
	testenv.DieWithTest(cmd)
	var pyStderr lockedBuffer
	cmd.Stderr = &pyStderr
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("librdkafka's log:\n%s", tail(pyStderr.String(), 80))
		}
	})
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pyDone := make(chan struct{})
	var pyLog []string
	go func() {
		defer close(pyDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "rec":
				p, _ := strconv.Atoi(f[1])
				o, _ := strconv.ParseInt(f[2], 10, 64)
				seen.record("librdkafka", int32(p), o)
			case "member":
				seen.sawMemberID("librdkafka", f[1])
			case "revoke", "lost", "assign":
				var ps []int32
				for _, s := range strings.Split(strings.Join(f[1:], ""), ",") {
					if p, err := strconv.Atoi(s); err == nil {
						ps = append(ps, int32(p))
					}
				}
				if f[0] == "assign" {
					seen.event("librdkafka", "assigned", ps)
				} else {
					seen.gaveUp("librdkafka", ps...)
				}
			default:
				pyLog = append(pyLog, sc.Text())
			}
		}
	}()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-pyDone
			_ = cmd.Wait()
		}
	}()

	// One member with Kafka's own Java client; its events are read as
	// they come.
	javaCl := startJavaDriver(t, "consume", "--bootstrap", strings.Join(c.seeds(), ","), "--topics", topic,
		"--group", group, "--prop", "group.protocol=consumer", "--prop", "client.id=java-848")
	javaStop := make(chan struct{})
	var javaReader sync.WaitGroup
	javaReader.Add(1)
	go func() {
		defer javaReader.Done()
		done := 0
		for {
			evs := javaCl.snapshot()
			for _, e := range evs[done:] {
				switch e.str("event") {
				case "record":
					seen.record("java", int32(e.num("partition")), e.num("offset"))
				case "revoked", "lost":
					var ps []int32
					for _, name := range e.strs("partitions") {
						if p, err := strconv.Atoi(name[strings.LastIndexByte(name, '-')+1:]); err == nil {
							ps = append(ps, int32(p))
						}
					}
					if len(ps) > 0 {
						seen.gaveUp("java", ps...)
					}
				case "assigned":
					seen.event("java", "assigned", nil)
				}
			}
			done = len(evs)
			select {
			case <-javaStop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	// Watch the group from the live brokers all along: no partition may
	// ever be in two members' current assignments.
	live := c.seeds()
	var liveMu sync.Mutex
	describe := func() (kadm.DescribedConsumerGroup, error) {
		liveMu.Lock()
		seeds := slices.Clone(live)
		liveMu.Unlock()
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DialTimeout(time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
		if err != nil {
			return kadm.DescribedConsumerGroup{}, err
		}
		defer cl.Close()
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		defer dcancel()
		ds, err := kadm.NewClient(cl).DescribeConsumerGroups(dctx, group)
		if err != nil {
			return kadm.DescribedConsumerGroup{}, err
		}
		d := ds[group]
		return d, d.Err
	}
	var overlaps []string
	var watchMu sync.Mutex
	watchCtx, stopWatching := context.WithCancel(ctx)
	var watching sync.WaitGroup
	watching.Add(1)
	go func() {
		defer watching.Done()
		for watchCtx.Err() == nil {
			if d, err := describe(); err == nil {
				owner := map[int32]string{}
				for _, m := range d.Members {
					for p := range m.Assignment[topic] {
						if o, ok := owner[p]; ok {
							watchMu.Lock()
							overlaps = append(overlaps, fmt.Sprintf("partition %d owned by %s and %s (epoch %d)", p, o, m.MemberID, d.Epoch))
							watchMu.Unlock()
						}
						owner[p] = m.MemberID
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	// Settled: four members, all at the group epoch, every partition
	// assigned, everyone consuming.
	stable := func() (kadm.DescribedConsumerGroup, bool) {
		d, err := describe()
		if err != nil || len(d.Members) != len(names) || d.State != "Stable" {
			return d, false
		}
		n := 0
		for _, m := range d.Members {
			if m.MemberEpoch != d.Epoch {
				return d, false
			}
			n += len(m.Assignment[topic])
		}
		return d, n == partitions
	}
	var before kadm.DescribedConsumerGroup
	for {
		var ok bool
		if before, ok = stable(); ok && seen.consumedSince(time.Time{}, names) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("group never settled: %+v; librdkafka said %v", before, pyLog)
		}
		time.Sleep(200 * time.Millisecond)
	}
	epochs := func(d kadm.DescribedConsumerGroup) map[string]int32 {
		out := map[string]int32{}
		for _, m := range d.Members {
			out[m.MemberID] = m.MemberEpoch
		}
		return out
	}
	t.Logf("before: group epoch %d, members %v", before.Epoch, epochs(before))
	seen.setPhase(1)
	c.waitFullISR(ctx, adm, "__consumer_offsets")

	// Kill the coordinator.
	coord := adm.FindGroupCoordinators(ctx, group)[group]
	if coord.Err != nil {
		t.Fatalf("find coordinator: %v", coord.Err)
	}
	liveMu.Lock()
	live = nil
	for _, nd := range c.nodes {
		if nd.id != coord.NodeID {
			live = append(live, nd.front.addr())
		}
	}
	liveMu.Unlock()
	killed := time.Now()
	seen.event("test", "kills the coordinator", nil)
	c.node(coord.NodeID).b.kill9()
	t.Logf("killed coordinator %d", coord.NodeID)

	// A new coordinator serves the same members at the same epochs, and
	// every member consumes again.
	var after kadm.DescribedConsumerGroup
	for {
		d, err := describe()
		if err == nil && d.Coordinator.NodeID != coord.NodeID && d.Coordinator.NodeID >= 0 && len(d.Members) > 0 &&
			seen.consumedSince(killed.Add(time.Second), names) {
			after = d
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no recovery after the kill: %+v %v; librdkafka said %v", d, err, pyLog)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("after %v: coordinator %d, group epoch %d, members %v", time.Since(killed).Round(time.Millisecond),
		after.Coordinator.NodeID, after.Epoch, epochs(after))
	if !maps.Equal(epochs(before), epochs(after)) || after.Epoch != before.Epoch {
		t.Fatalf("members or epochs changed over the failover:\nbefore epoch %d %v\nafter  epoch %d %v",
			before.Epoch, epochs(before), after.Epoch, epochs(after))
	}

	// Let it run a little longer under the new coordinator, then stop
	// producing and wait for every record to be consumed.
	time.Sleep(3 * time.Second)
	stopProducing()
	prodDone.Wait()
	want := map[[2]int64]bool{}
	produced.Range(func(k, _ any) bool { want[k.([2]int64)] = true; return true })
	for {
		missing := 0
		seen.mu.Lock()
		for k := range want {
			if len(seen.by[k]) == 0 {
				missing++
			}
		}
		seen.mu.Unlock()
		if missing == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d produced records never consumed", missing, len(want))
		}
		time.Sleep(200 * time.Millisecond)
	}
	final, err := describe()
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	stopWatching()
	watching.Wait()
	seen.setPhase(2)
	stopPolling()
	pollers.Wait()
	for _, cl := range franz {
		cl.Close() // leaves the group
	}
	close(javaStop)
	javaReader.Wait()
	javaCl.stop()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-pyDone
	_ = cmd.Wait()

	if !maps.Equal(epochs(before), epochs(final)) || final.Epoch != before.Epoch {
		t.Fatalf("members or epochs changed by the end:\nbefore epoch %d %v\nend    epoch %d %v",
			before.Epoch, epochs(before), final.Epoch, epochs(final))
	}
	watchMu.Lock()
	if len(overlaps) > 0 {
		t.Fatalf("partitions owned twice: %v", overlaps)
	}
	watchMu.Unlock()
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.idChange) > 0 {
		t.Fatalf("clients changed member ids: %v", seen.idChange)
	}
	for name, id := range seen.memberID {
		if _, ok := epochs(before)[id]; !ok {
			t.Fatalf("%s reports member id %s, not in the group %v", name, id, epochs(before))
		}
	}
	// At-least-once allows a record again only where its partition
	// changed hands, which happened only while the group formed.
	if len(seen.late) > 0 {
		t.Fatalf("partitions changed hands though no member left: %v", slices.Sorted(maps.Keys(seen.late)))
	}
	dups := 0
	for k, ms := range seen.by {
		if len(ms) > 1 && !seen.early[int32(k[0])] {
			dups++
			if dups <= 5 {
				t.Errorf("partition %d offset %d consumed by %v at %v", k[0], k[1], ms, seen.at[k])
			}
		}
	}
	if dups > 0 {
		t.Logf("events:\n%s", strings.Join(seen.events, "\n"))
		t.Fatalf("%d records consumed more than once on partitions that never moved", dups)
	}
	t.Logf("%d records produced, all consumed once; %d members kept ids and epochs", len(want), len(before.Members))
}
