# Runnel in a container: the same environment as a Kafka image works
# (KAFKA_* variables become server.properties keys).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /runnel ./cmd/runnel

FROM debian:bookworm-slim
COPY --from=build /runnel /usr/local/bin/runnel
ENV KAFKA_LOG_DIRS=/var/lib/runnel
VOLUME /var/lib/runnel
EXPOSE 9092 9644
ENTRYPOINT ["runnel", "serve"]
