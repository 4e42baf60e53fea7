package etcdstore

import (
	"sync"
	"sync/atomic"
)

// counterTable holds the requests this node counted and has not flushed
// yet, a slot per bin it knows. A bin gets a slot when it enters the
// node's memory (loaded, watched or created here) and gives it back when
// it leaves (deleted); a slot is then given to a later bin. Counting
// through a store.Counter costs a shared lock on the slot's block and two
// atomic updates, and looks nothing up.
//
// Slots change hands only under Store.mu, held for writing; the block's
// lock, held for writing too, keeps a count from landing in a slot that
// changed hands since its Counter was made.
type counterTable struct {
	blocks atomic.Pointer[[]*counterBlock] // replaced, never changed, when it grows

	// Under Store.mu.
	free []uint32 // slots given back, to hand out again
	next uint32   // the lowest slot never handed out
}

// blockSlots is how many slots a block holds; the flush looks only at the
// blocks that changed.
const blockSlots = 128

type counterBlock struct {
	mu    sync.RWMutex
	dirty atomic.Bool // a slot counted since a flush last looked
	slots [blockSlots]counterSlot
}

// counterSlot is one bin's requests not yet flushed.
type counterSlot struct {
	requests atomic.Int64
	last     atomic.Int64 // Unix nanoseconds of the latest request, 0 for none
	// tag grows by one each time the slot is given to a bin and each time
	// it is taken back: odd while a bin has it. Under the block's lock.
	tag uint32
	// sid is the bin that has the slot. Under Store.mu.
	sid string
}

func newCounterTable() *counterTable {
	t := &counterTable{}
	t.blocks.Store(new([]*counterBlock))
	return t
}

// slot returns slot n and its block; the block exists.
func (t *counterTable) slot(n uint32) (*counterBlock, *counterSlot) {
	b := (*t.blocks.Load())[n/blockSlots]
	return b, &b.slots[n%blockSlots]
}

// assign gives a slot to bin sid and returns it. Store.mu is held.
func (t *counterTable) assign(sid string) uint32 {
	var n uint32
	if len(t.free) > 0 {
		n = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
	} else {
		n = t.next
		t.next++
		if blocks := *t.blocks.Load(); int(n/blockSlots) >= len(blocks) {
			grown := append(blocks[:len(blocks):len(blocks)], new(counterBlock))
			t.blocks.Store(&grown)
		}
	}
	b, s := t.slot(n)
	b.mu.Lock()
	s.tag++ // odd: given
	s.sid = sid
	b.mu.Unlock()
	return n
}

// release takes slot n back, empty, making every Counter of it stale.
// Store.mu is held.
func (t *counterTable) release(n uint32) {
	b, s := t.slot(n)
	b.mu.Lock()
	s.tag++ // even: taken back
	s.sid = ""
	s.requests.Store(0)
	s.last.Store(0)
	b.mu.Unlock()
	t.free = append(t.free, n)
}

// counter returns the Counter of slot n. Store.mu is held, for reading
// at least.
func (t *counterTable) counter(n uint32) (slot, tag uint32) {
	b, s := t.slot(n)
	b.mu.RLock()
	defer b.mu.RUnlock()
	return n, s.tag
}

// count counts a request at Unix nanoseconds at in slot n, unless the
// slot has changed hands since tag was read.
func (t *counterTable) count(n, tag uint32, at int64) {
	if tag == 0 {
		return
	}
	blocks := *t.blocks.Load()
	if int(n/blockSlots) >= len(blocks) {
		return // not a Counter of this store
	}
	b := blocks[n/blockSlots]
	s := &b.slots[n%blockSlots]
	b.mu.RLock()
	defer b.mu.RUnlock()
	if s.tag != tag {
		return
	}
	// The time first: a flush that takes this request takes its time too.
	for last := s.last.Load(); at > last && !s.last.CompareAndSwap(last, at); last = s.last.Load() {
	}
	s.requests.Add(1)
	if !b.dirty.Load() {
		b.dirty.Store(true)
	}
}

// pending returns the requests counted in slot n and not taken by a
// flush, and the latest time counted.
func (t *counterTable) pending(n uint32) (requests, lastNanos int64) {
	_, s := t.slot(n)
	return s.requests.Load(), s.last.Load()
}

// take calls fn with the bin and number of every slot counted in since
// the last take. fn takes the slot's requests with swap, or returns false
// to leave them to a later take. Store.mu is held for writing, so a
// reader sees the requests either in the slot or where fn puts them.
func (t *counterTable) take(fn func(sid string, n uint32) bool) {
	for i, b := range *t.blocks.Load() {
		if !b.dirty.Swap(false) {
			continue
		}
		for j := range b.slots {
			s := &b.slots[j]
			if s.sid == "" || s.requests.Load() == 0 {
				continue
			}
			if !fn(s.sid, uint32(i*blockSlots+j)) {
				b.dirty.Store(true)
			}
		}
	}
}

// swap empties slot n's requests and returns them with the latest time
// counted, which stays.
func (t *counterTable) swap(n uint32) (requests, lastNanos int64) {
	_, s := t.slot(n)
	return s.requests.Swap(0), s.last.Load()
}

// dirtyBlocks is how many blocks were counted in since the last take.
func (t *counterTable) dirtyBlocks() int {
	n := 0
	for _, b := range *t.blocks.Load() {
		if b.dirty.Load() {
			n++
		}
	}
	return n
}
