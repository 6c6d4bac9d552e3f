#!/usr/bin/env bash
# Brings up the three-broker compose cluster (docker-compose.yml, profile
# "cluster": three runnel brokers on a three-member etcd), produces and
# consumes through it, kills a broker container mid-way and checks that
# every record the producer had acknowledged (acks=all,
# min.insync.replicas=2) is still there, then that the killed broker
# rejoins and catches up.
#
#   scripts/compose-check.sh            # leaves nothing behind (down -v)
#   KEEP=1 scripts/compose-check.sh     # leaves the cluster running
#
# Needs a Docker engine with the compose plugin (or docker-compose) and Go
# (to build the static binary the FROM scratch image holds). Without a
# reachable Docker engine it says so and exits 0 (skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
	echo "compose-check: SKIP: no reachable Docker engine"
	exit 0
fi
if docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null; then
	compose=(docker-compose)
else
	echo "compose-check: SKIP: neither 'docker compose' nor docker-compose is installed"
	exit 0
fi
project=runnel-compose-check
dc() { "${compose[@]}" -p "$project" --profile cluster "$@"; }
cleanup() {
	local rc=$?
	if [[ $rc -ne 0 ]]; then
		echo "compose-check: FAILED (rc $rc); broker logs:" >&2
		dc logs --tail 40 broker1 broker2 broker3 >&2 || true
	fi
	if [[ -z "${KEEP:-}" ]]; then
		dc down -v --remove-orphans >/dev/null 2>&1 || true
	fi
	exit $rc
}
trap cleanup EXIT

# runnel runs the CLI inside a broker container, on the compose network.
runnel() { local svc=$1; shift; dc exec -T "$svc" /runnel "$@"; }
brokers=broker1:9092,broker2:9092,broker3:9092

echo "compose-check: building bin/runnel and the image"
CGO_ENABLED=0 go build -trimpath -o bin/runnel ./cmd/runnel
dc build
dc up -d --wait

topic=compose-check
runnel broker1 topic create "$topic" -p 3 -r 3 --brokers "$brokers"

# Records "a-0".."a-N" before the kill, "b-0".."b-N" after: runnel produce
# exits 0 only once every record was acknowledged with acks=all.
n=2000
seq 0 $((n - 1)) | sed 's/^/a-/' | runnel broker1 produce "$topic" --acks all --brokers "$brokers"
echo "compose-check: $n records acknowledged; killing broker2"
dc kill broker2
# Its leaderships move once its etcd session expires (9 s): wait until
# the metadata no longer lists it, then produce through the other two.
for _ in $(seq 30); do
	if ! runnel broker1 cluster info --brokers broker1:9092,broker3:9092 | grep -q broker2; then
		break
	fi
	sleep 1
done
seq 0 $((n - 1)) | sed 's/^/b-/' | runnel broker1 produce "$topic" --acks all --timeout 60s --brokers broker1:9092,broker3:9092
echo "compose-check: $n more acknowledged with broker2 down"

got=$(runnel broker1 consume "$topic" -e --timeout 60s --brokers broker1:9092,broker3:9092 | sort -u)
want=$( (seq 0 $((n - 1)) | sed 's/^/a-/'; seq 0 $((n - 1)) | sed 's/^/b-/') | sort -u)
if [[ "$got" != "$want" ]]; then
	echo "compose-check: acknowledged records missing:" >&2
	comm -13 <(echo "$got") <(echo "$want") | head -20 >&2
	exit 1
fi
echo "compose-check: all $((2 * n)) acknowledged records read back"

# broker2 comes back, catches up, and the cluster is healthy again.
dc start broker2
dc up -d --wait broker2
for _ in $(seq 60); do
	if runnel broker1 cluster health --brokers "$brokers" >/dev/null 2>&1; then
		break
	fi
	sleep 2
done
runnel broker1 cluster health --brokers "$brokers"
curl -fsS http://127.0.0.1:9646/metrics 2>/dev/null | grep -E '^runnel_(under_replicated_partitions|partitions|leader_partitions) ' || true
echo "compose-check: OK"
