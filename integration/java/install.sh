#!/usr/bin/env bash
# Builds integration/java/lib/: every jar of the Kafka release pinned in
# pom.xml (clients, tools, Streams, Connect, MirrorMaker 2, core for
# kafka-configs) plus the test driver compiled from src/. Maven resolves
# them into its own cache (~/.m2) and copies them here; the tests then run
# only what lies in lib/ and download nothing.
#
# lib/.stamp holds the sha256 of pom.xml and the driver's sources: when it
# matches, lib/ is current and nothing runs (no network either).
set -euo pipefail
cd "$(dirname "$0")"
stamp=$(cat pom.xml $(find src -type f | sort) | sha256sum | cut -d' ' -f1)
if [ -f lib/.stamp ] && [ "$(cat lib/.stamp)" = "$stamp" ]; then
  exit 0
fi
for tool in java javac mvn; do
  command -v "$tool" >/dev/null 2>&1 || { echo "java-deps: $tool missing (apt-get install default-jdk-headless maven)" >&2; exit 1; }
done
echo "java-deps: resolving Kafka's jars with Maven into integration/java/lib/"
rm -rf lib.tmp target
mvn -B -q -Dstyle.color=never package dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=lib.tmp
cp target/runnel-javadriver.jar lib.tmp/
echo "$stamp" > lib.tmp/.stamp
rm -rf lib target
mv lib.tmp lib
