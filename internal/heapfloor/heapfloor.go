// Package heapfloor keeps the garbage collector from running before the
// heap has grown to a floor.
//
// Go's collector runs when the heap has grown by GOGC percent (100) of
// what the last collection found live. A server that keeps little live
// data, a few megabytes, but allocates a little on every request then
// collects many times a second under load, marking its whole live heap
// each time: twimlbin serve with one bin collected 90 times in 5 seconds
// of load, 3.5 µs of processor time a request (GODEBUG=gctrace=1). Keep
// raises GOGC after each collection so that the next one waits until the
// heap reaches the floor; once the live heap is half the floor or more,
// GOGC is back at its own value and the floor changes nothing. The memory
// limit (GOMEMLIMIT) still applies.
package heapfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// liveHeap is the runtime metric of the heap the last collection marked.
const liveHeap = "/gc/heap/live:bytes"

// heapMinimum is the heap the runtime lets grow before collecting, however
// little is live, at GOGC=100; it grows with GOGC (runtime/mgcpacer.go,
// defaultHeapMinimum).
const heapMinimum = 4 << 20

// Keep adjusts GOGC after every collection, from the value it has now,
// so that the heap grows to floor bytes before the next one. stop puts
// that value back and ends the adjustment.
func Keep(floor uint64) (stop func()) {
	k := &keeper{floor: floor, base: debug.SetGCPercent(100)}
	debug.SetGCPercent(k.base)
	if k.base < 0 {
		return func() {} // collection is off: there is nothing to delay
	}
	k.sample = []metrics.Sample{{Name: liveHeap}}
	k.adjust()
	k.arm()
	return k.stop
}

type keeper struct {
	floor uint64
	base  int // GOGC as it was

	mu      sync.Mutex
	sample  []metrics.Sample
	stopped bool
}

// arm has adjust run after the next collection: the object it allocates
// is garbage at once, and its cleanup runs once a collection has found it
// so.
func (k *keeper) arm() {
	sentinel := new(struct{ _ *byte }) // holds a pointer: never batched with others
	runtime.AddCleanup(sentinel, func(k *keeper) {
		if k.adjust() {
			k.arm()
		}
	}, k)
}

// adjust sets GOGC for the live heap the last collection found, and
// reports whether it is to go on.
func (k *keeper) adjust() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return false
	}
	metrics.Read(k.sample)
	if k.sample[0].Value.Kind() == metrics.KindUint64 {
		debug.SetGCPercent(percentFor(k.sample[0].Value.Uint64(), k.floor, k.base))
	}
	return true
}

func (k *keeper) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.stopped {
		k.stopped = true
		debug.SetGCPercent(k.base)
	}
}

// percentFor returns the GOGC under which a heap of live bytes grows to
// floor before it is collected, or base when base lets it grow further.
// It is no more than makes the runtime's minimum heap the floor: the
// minimum grows with GOGC, and a near-empty heap (or none, before the
// first collection) would otherwise be let grow far past the floor.
func percentFor(live, floor uint64, base int) int {
	if live >= floor {
		return base
	}
	p := float64(floor) / heapMinimum * 100
	if live > 0 {
		p = math.Min(p, (float64(floor)/float64(live)-1)*100)
	}
	return int(math.Max(float64(base), p))
}
