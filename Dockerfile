# Runnel in a container, built without pulling any image: a FROM scratch
# image holding the static binary, which is built on the host first
#
#   CGO_ENABLED=0 go build -trimpath -o bin/runnel ./cmd/runnel
#   docker build -t runnel:latest .        (or: make image)
#
# so it builds on a machine with a Docker engine and no registry. The
# same environment as a Kafka image works (KAFKA_* variables become
# server.properties keys). Dockerfile.multistage builds the binary inside
# a golang image instead, for machines without Go.
#
# The image has no shell and no curl: health checks run the binary
# (`runnel probe http://127.0.0.1:9644/readyz`). The standalone etcd
# members of docker-compose.yml run from it too (`runnel etcd`).
FROM scratch
COPY bin/runnel /runnel
ENV KAFKA_LOG_DIRS=/var/lib/runnel
VOLUME /var/lib/runnel
EXPOSE 9092 9644
ENTRYPOINT ["/runnel"]
CMD ["serve"]
