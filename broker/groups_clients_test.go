package broker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/runnel/runnel/internal/testenv"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saramaHandler marks and commits each message after processing it.
type saramaHandler struct{ tr *tracker }

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.tr.add(m.Value)
		s.MarkMessage(m, "")
		s.Commit()
	}
	return nil
}

func TestSaramaConsumerGroup(t *testing.T) {
	tb := startTestBroker(t, groupOverrides...)
	dataTopic(t, tb, "t", 4, nil)
	grpProduce(t, tb, "t", 0, 400)
	tr := &tracker{seen: map[int]int{}}
	start := func() (stop func()) {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_0_0_0
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Offsets.AutoCommit.Enable = false
		cfg.Consumer.Group.Session.Timeout = 6 * time.Second
		cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
		cg, err := sarama.NewConsumerGroup([]string{tb.addr}, "sg", cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{"t"}, saramaHandler{tr}); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
					t.Logf("sarama consume: %v", err)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				<-done
				cg.Close()
			})
		}
		t.Cleanup(stop)
		return stop
	}
	stopA := start()
	testenv.Eventually(t, "first records", func() bool { return len(tr.missing(400)) < 400 })
	stopB := start()
	grpProduce(t, tb, "t", 400, 400)
	testenv.Eventually(t, "half", func() bool { return len(tr.missing(600)) == 0 })
	stopA()
	testenv.Eventually(t, "everything", func() bool { return len(tr.missing(800)) == 0 })
	stopB()
	offs, err := tb.admin(t).FetchOffsets(testCtx(t), "sg")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, ps := range offs {
		for _, o := range ps {
			sum += o.At
		}
	}
	if sum != 800 {
		t.Fatalf("committed %d", sum)
	}
}

func TestKafkaGoReaderGroup(t *testing.T) {
	tb := startTestBroker(t, groupOverrides...)
	dataTopic(t, tb, "t", 4, nil)
	grpProduce(t, tb, "t", 0, 400)
	tr := &tracker{seen: map[int]int{}}
	start := func() (stop func()) {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:           []string{tb.addr},
			GroupID:           "kg",
			Topic:             "t",
			MaxWait:           200 * time.Millisecond,
			StartOffset:       kafka.FirstOffset,
			HeartbeatInterval: 500 * time.Millisecond,
			SessionTimeout:    6 * time.Second,
			RebalanceTimeout:  6 * time.Second,
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					return
				}
				tr.add(m.Value)
				if err := r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
					t.Logf("kafka-go commit: %v", err)
				}
			}
		}()
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				<-done
				r.Close()
			})
		}
		t.Cleanup(stop)
		return stop
	}
	stopA := start()
	testenv.Eventually(t, "first records", func() bool { return len(tr.missing(400)) < 400 })
	stopB := start()
	grpProduce(t, tb, "t", 400, 400)
	testenv.Eventually(t, "half", func() bool { return len(tr.missing(600)) == 0 })
	stopA()
	testenv.Eventually(t, "everything", func() bool { return len(tr.missing(800)) == 0 })
	stopB()
}

// TestRebalanceTime10Members100Partitions measures (and logs; no timing
// assertion) how long it takes 10 franz-go members to form a group over
// 100 partitions, and how long the group takes to rebalance when one
// member leaves, with the eager and the cooperative-sticky protocols.
func TestRebalanceTime10Members100Partitions(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	tb := startTestBroker(t, groupOverrides...)
	dataTopic(t, tb, "t", 100, nil)
	// Create __consumer_offsets first, so it is not part of the figure.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"warm-up"}
	if _, err := fc.RequestWith(testCtx(t), tb.client(t)); err != nil {
		t.Fatal(err)
	}
	for _, bal := range []kgo.GroupBalancer{kgo.RangeBalancer(), kgo.CooperativeStickyBalancer()} {
		group := "m-" + bal.ProtocolName()
		var mu sync.Mutex
		owned := map[int]map[int32]bool{}
		count := func() int {
			mu.Lock()
			defer mu.Unlock()
			seen := map[int32]bool{}
			for _, ps := range owned {
				for p := range ps {
					seen[p] = true
				}
			}
			return len(seen)
		}
		var clients []*kgo.Client
		begin := time.Now()
		for i := 0; i < 10; i++ {
			i := i
			mu.Lock()
			owned[i] = map[int32]bool{}
			mu.Unlock()
			cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics("t"),
				kgo.Balancers(bal), kgo.HeartbeatInterval(100*time.Millisecond), kgo.SessionTimeout(3*time.Second),
				kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
					mu.Lock()
					for _, p := range m["t"] {
						owned[i][p] = true
					}
					mu.Unlock()
				}),
				kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
					mu.Lock()
					for _, p := range m["t"] {
						delete(owned[i], p)
					}
					mu.Unlock()
				}),
				kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
					mu.Lock()
					for _, p := range m["t"] {
						delete(owned[i], p)
					}
					mu.Unlock()
				}))
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, cl)
			go func() {
				for !cl.PollFetches(context.Background()).IsClientClosed() {
				}
			}()
		}
		balanced := func() bool {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for _, ps := range owned {
				if len(ps) > 0 {
					n++
				}
			}
			return n == len(owned)
		}
		testenv.Eventually(t, "all partitions owned by all members", func() bool { return count() == 100 && balanced() })
		formed := time.Since(begin)
		begin = time.Now()
		clients[0].Close()
		mu.Lock()
		delete(owned, 0)
		mu.Unlock()
		testenv.Eventually(t, "rebalance after a leave", func() bool {
			d, err := tb.admin(t).DescribeGroups(testCtx(t), group)
			return err == nil && d[group].State == "Stable" && len(d[group].Members) == 9 && count() == 100
		})
		t.Logf("%s: 10 members over 100 partitions formed in %v; one member leaving → rebalanced in %v",
			bal.ProtocolName(), formed.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
		for _, cl := range clients[1:] {
			cl.Close()
		}
	}
}
