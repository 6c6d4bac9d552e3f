//go:build race

package protocol

// raceEnabled: the race detector changes what escapes to the heap, so
// exact allocation figures (DecodedSize) are checked only without it.
const raceEnabled = true
