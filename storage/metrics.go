package storage

// Segments is the number of segments the log holds (Kafka's
// NumLogSegments).
func (l *Log) Segments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segs)
}
