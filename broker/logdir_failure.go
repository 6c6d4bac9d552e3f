package broker

import "go.uber.org/zap"

// Log-dir failure, as Kafka's LogDirFailureChannel: the first I/O error in
// the log dir (storage.Manager.FailureC) takes every partition in it
// offline — storage answers KAFKA_STORAGE_ERROR from then on and never
// acknowledges or exposes a write after the failure — and, the log dir
// being the broker's only one, the broker stops, as Kafka halts. The
// owner of the Broker sees Failed close, calls Close — whose controlled
// shutdown hands this broker's leaderships to in-sync replicas elsewhere
// at once, without waiting for the session to expire — and exits
// non-zero. /readyz and DescribeLogDirs report the failure meanwhile.

// watchLogDir waits for the log dir to fail or the broker to close.
func (b *Broker) watchLogDir() {
	go func() {
		select {
		case <-b.logs.FailureC():
		case <-b.life.Done():
			return
		}
		b.log.Error("log dir failed: this broker stops serving and shuts down (Kafka halts when its only log dir fails); its leaderships move to in-sync replicas on other brokers",
			zap.String("log.dir", b.cfg.LogDirs[0]), zap.Error(b.logs.Failed()))
		close(b.failed)
	}()
}

// Failed is closed when the broker can no longer serve because its log
// dir failed; Close it and exit non-zero. LogDirError says why.
func (b *Broker) Failed() <-chan struct{} { return b.failed }

// LogDirError is the log dir's failure, or nil while it is healthy.
func (b *Broker) LogDirError() error {
	if b.logs == nil {
		return nil
	}
	return b.logs.Failed()
}
