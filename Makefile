# Runnel — the two commands a fresh machine needs are `make run` and `make test`.

GO        ?= go
DATA      ?= ./data
TEST_TIMEOUT ?= 25m
# The integration package runs ~20 minutes on a 2-core machine; its own
# timeout leaves room for a slower CI machine (CI's limit is 90 minutes).
INTEGRATION_TIMEOUT ?= 45m

.PHONY: run build test test-deps check unit integration fuzz bench clean

# Runs a single-node broker on :9092 with an embedded etcd under $(DATA),
# with the internal topics' replication settings of Kafka's single-node
# quickstart (Kafka's defaults, 3 and 2, need three brokers).
run:
	$(GO) run ./cmd/runnel serve --override log.dirs=$(DATA) --override advertised.listeners=PLAINTEXT://localhost:9092 \
	  --override offsets.topic.replication.factor=1 --override transaction.state.log.replication.factor=1 \
	  --override transaction.state.log.min.isr=1

build:
	$(GO) build -o bin/runnel ./cmd/runnel

# Installs what the tests drive (real clients, a real etcd) and runs every test.
# The integration tests run the runnel binary they build, which go test's
# cache cannot see: they always run (-count=1).
test: test-deps check
	$(GO) test -race -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v /integration)
	$(GO) test -race -count=1 -timeout $(INTEGRATION_TIMEOUT) ./integration/...

# Debian packages the integration tests use: kcat (librdkafka), the Python
# clients (only importable from /usr/bin/python3), and etcd-server for
# cluster tests with an external etcd.
test-deps:
	@bash .ci/install-test-deps

# Apache Kafka's jars (one pinned release) and the Java test driver, into
# integration/java/lib/ (gitignored); does nothing when that is current.
.PHONY: java-deps java-long
java-deps:
	@bash integration/java/install.sh

# The long scenarios with Kafka's own software (Streams exactly-once with a
# broker killed, Connect, MirrorMaker 2), not part of `make test`.
java-long: java-deps
	RUNNEL_JAVA_LONG=1 $(GO) test -race -count=1 -run 'TestJavaLong' -v -timeout 30m ./integration/

# The full-disk test 20 times over (root only: it mounts a tmpfs), not part
# of `make test`, which runs it twice.
.PHONY: soak-fulldisk
soak-fulldisk:
	RUNNEL_SOAK_FULLDISK=1 $(GO) test -race -count=1 -run 'TestFullDiskBroker$$' -v -timeout 20m ./integration/

check:
	@out=$$(gofmt -l $$(git ls-files '*.go') $$(git ls-files --others --exclude-standard '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v /integration)

integration: test-deps
	$(GO) test -race -count=1 -timeout $(INTEGRATION_TIMEOUT) ./integration/...

# Short fuzzing pass over every fuzz target; the corpus lives in testdata/fuzz.
FUZZTIME ?= 30s
fuzz:
	@for dir in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go') | xargs -n1 dirname | sort -u); do \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | sed 's/^func //'); do \
	    echo "== ./$$dir $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./$$dir || exit 1; \
	  done; \
	done

# Benchmarks are not part of `make test`: they take minutes and want a quiet machine.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 -timeout 60m ./storage/ ./protocol/

# Authorization's cost: produce/fetch with no authorizer and with 10,000
# ACLs, side by side, and the decision alone (ns/op).
.PHONY: bench-authz
bench-authz:
	$(GO) test -run '^$$' -bench 'Authorizer' -benchtime 200000x -count 5 -timeout 30m ./broker/
	$(GO) test -run '^$$' -bench 'Authorize' -benchmem -count 5 ./security/authz/

# Client quotas' cost: a broker with no quota against one whose quotas
# apply to the client without binding. QuotaHandlers calls the Produce and
# Fetch handlers of both alternately (median times, set/none ratios: the
# figure to read); QuotaCost runs franz-go end to end, alternating rounds
# (throughput medians, noisy on a shared machine).
.PHONY: bench-quota
bench-quota:
	$(GO) test -run '^$$' -bench 'QuotaHandlers' -benchtime 3000x -count 5 -timeout 30m ./broker/
	$(GO) test -run '^$$' -bench 'QuotaCost' -benchtime 100000x -count 3 -timeout 30m ./broker/

# Runnel against franz-go's in-memory kfake, same workloads, several rounds;
# prints a table of medians (RUNNEL_BENCH_OUT=file also writes it there).
.PHONY: bench-compare
bench-compare:
	RUNNEL_BENCH_COMPARE=1 $(GO) test -run TestBenchCompare -v -timeout 30m ./integration/

# Runnel against Apache Kafka (the release pinned in integration/java/pom.xml,
# started from integration/java/lib), alternating rounds: franz-go,
# librdkafka's rdkafka_performance and Kafka's perf-test tools as clients,
# e2e latency at 10k and 50k msg/s, start-up and kill -9 recovery, and
# three brokers each at RF=3; prints one table of medians, ratios and goals
# with each broker's CPU s/GB and RSS (docs/performance.md). About 40
# minutes; RUNNEL_BENCH_PHASES=single,life,rf3 picks phases.
# RUNNEL_BENCH_PIN=1 pins every broker process (runnel, its etcd, Kafka's
# JVMs, all their threads) to CPU 0 and the clients (this test process
# with franz-go, rdkafka_performance, kafka-*-perf-test) to CPU 1, the same
# for both brokers (BROKERS/CLIENTS CPU lists, e.g. 0-1/2-3, on bigger
# machines); RUNNEL_BENCH_RATES=none skips the e2e runs.
.PHONY: bench-compare-kafka
bench-compare-kafka: java-deps
	RUNNEL_BENCH_KAFKA=1 $(GO) test -run TestBenchCompareKafka -v -timeout 120m ./integration/

# Differential conformance against Apache Kafka, in full: the corpus
# (which `make test` also runs) verbosely, failing on allowlist entries no
# difference needed, and three-node Kafka in the test harness.
.PHONY: conformance
conformance: java-deps
	RUNNEL_CONFORMANCE_FULL=1 $(GO) test -race -count=1 -run 'TestStartKafka' -v -timeout 10m ./internal/testenv/
	RUNNEL_CONFORMANCE_FULL=1 $(GO) test -race -count=1 -run 'TestDifferentialConformance' -v -timeout 20m ./integration/

# The same workloads against this tree and a baseline revision, one run,
# alternating rounds: `make bench-baseline BASE=main~3` (a refactor must not
# be slower). The baseline binary is built from a detached worktree.
.PHONY: bench-baseline
BASE ?= HEAD
bench-baseline:
	@rm -rf .bench-base && git worktree add -q --detach .bench-base $(BASE)
	cd .bench-base && $(GO) build -o ../bin/runnel-base ./cmd/runnel
	git worktree remove --force .bench-base
	RUNNEL_BENCH_BASELINE=$(CURDIR)/bin/runnel-base $(GO) test -run TestBenchBaseline -v -timeout 30m ./integration/

# Exactly-once under churn and CPU load, each group protocol for
# SOAK_EOS (default 5m); make test runs the same test for 10 s each.
SOAK_EOS ?= 5m
.PHONY: soak-eos
soak-eos:
	RUNNEL_SOAK_EOS=$(SOAK_EOS) $(GO) test -race -count=1 -run TestEOSSoak -v -timeout 90m ./integration/

# The same soak SOAK_EOS_RUNS times in a row (default 20), SOAK_EOS_EACH
# (default 30s) per variant; SOAK_EOS_ONLY picks variants by subtest name,
# e.g. SOAK_EOS_ONLY=confluent or SOAK_EOS_ONLY='range|kip848'. Stops at
# the first failing run.
SOAK_EOS_RUNS ?= 20
SOAK_EOS_EACH ?= 30s
SOAK_EOS_ONLY ?=
.PHONY: soak-eos-20
soak-eos-20:
	RUNNEL_SOAK_EOS=$(SOAK_EOS_EACH) $(GO) test -race -count=$(SOAK_EOS_RUNS) -failfast -run 'TestEOSSoak/$(SOAK_EOS_ONLY)' -v -timeout 300m ./integration/

# acks=all produce throughput on one three-broker cluster (external etcd):
# RF=3 with min.insync.replicas=2 against RF=1, twice each, same run.
.PHONY: bench-cluster
bench-cluster:
	RUNNEL_CLUSTER_BENCH=1 $(GO) test -run TestClusterReplicationBench -v -timeout 30m ./integration/

clean:
	rm -rf bin data

# Metadata at scale: one broker on an external etcd creates N partitions
# (RUNNEL_BENCH_SCALE_PARTITIONS, default 20000) and prints create rate,
# RSS, etcd db size and all-topics Metadata latency as it goes.
.PHONY: bench-scale
bench-scale:
	RUNNEL_BENCH_SCALE=1 $(GO) test -run TestBenchScale -v -timeout 60m ./integration/

# Issue 14's cluster goals: controller failover and controlled shutdown
# with three brokers on a three-member etcd (RUNNEL_BENCH_SCALE_CLUSTER_*).
.PHONY: bench-scale-cluster
bench-scale-cluster:
	RUNNEL_BENCH_SCALE_CLUSTER=1 $(GO) test -run TestBenchScaleCluster -v -timeout 120m ./integration/

# The container image, FROM scratch around a static binary: no base image
# is pulled (Dockerfile.multistage builds inside golang instead).
.PHONY: image compose-check
image:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/runnel ./cmd/runnel
	docker build -t runnel:latest .

# Three brokers on a three-member etcd under docker compose: produce,
# kill a broker, check nothing acknowledged was lost (skips without Docker).
compose-check:
	scripts/compose-check.sh
