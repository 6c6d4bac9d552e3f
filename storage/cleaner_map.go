package storage

import "hash/maphash"

// offsetMap is the cleaner's key → latest offset table (Kafka's SkimpyOffsetMap):
// open addressing with linear probing over 24-byte slots holding a 128-bit
// key hash (two independent maphash seeds) and the offset. Keys themselves
// are not stored, so the memory budget (log.cleaner.dedupe.buffer.size)
// bounds the number of distinct keys one pass can deduplicate: at most
// budget/24 slots, filled to dedupeLoadFactor (Kafka's
// log.cleaner.io.buffer.load.factor, 0.9). The table starts small and
// doubles up to the budget, so a pass over few keys allocates little.
type offsetMap struct {
	s1, s2     maphash.Seed
	slots      []omSlot
	n          int
	capMax     int   // largest power-of-two slot count within the budget
	maxEntries int   // capMax * dedupeLoadFactor: put refuses beyond it
	latest     int64 // last offset of the last batch fully mapped (-1 none)
}

type omSlot struct {
	h1, h2 uint64
	off1   int64 // offset+1; 0 marks an empty slot
}

const (
	omSlotSize       = 24
	dedupeLoadFactor = 0.9
)

func newOffsetMap(budget int64) *offsetMap {
	capMax := 16
	for int64(capMax)*2*omSlotSize <= budget {
		capMax *= 2
	}
	m := &offsetMap{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), capMax: capMax, latest: -1}
	m.maxEntries = int(float64(capMax) * dedupeLoadFactor)
	m.slots = make([]omSlot, min(capMax, 1024))
	return m
}

// full reports that one more distinct key may not fit.
func (m *offsetMap) full() bool { return m.n >= m.maxEntries }

func (m *offsetMap) hash(key []byte) (uint64, uint64) {
	return maphash.Bytes(m.s1, key), maphash.Bytes(m.s2, key)
}

// put records offset as the latest for key (offsets only grow during a
// pass). The caller checks full() first.
func (m *offsetMap) put(key []byte, offset int64) {
	h1, h2 := m.hash(key)
	if m.n+1 > len(m.slots)*3/4 && len(m.slots) < m.capMax {
		m.grow()
	}
	mask := uint64(len(m.slots) - 1)
	for i := h1 & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.off1 == 0 {
			*s = omSlot{h1: h1, h2: h2, off1: offset + 1}
			m.n++
			return
		}
		if s.h1 == h1 && s.h2 == h2 {
			s.off1 = offset + 1
			return
		}
	}
}

// get returns the latest offset mapped for key, or -1.
func (m *offsetMap) get(key []byte) int64 {
	h1, h2 := m.hash(key)
	mask := uint64(len(m.slots) - 1)
	for i := h1 & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.off1 == 0 {
			return -1
		}
		if s.h1 == h1 && s.h2 == h2 {
			return s.off1 - 1
		}
	}
}

func (m *offsetMap) grow() {
	old := m.slots
	m.slots = make([]omSlot, len(old)*2)
	mask := uint64(len(m.slots) - 1)
	for _, s := range old {
		if s.off1 == 0 {
			continue
		}
		i := s.h1 & mask
		for m.slots[i].off1 != 0 {
			i = (i + 1) & mask
		}
		m.slots[i] = s
	}
}
