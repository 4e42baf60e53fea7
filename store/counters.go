package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// usageTable holds the usage counters of every bin in memory, where they
// are the truth: reads take them from here, and the file holds a copy that
// the flush brings up to date every FlushInterval.
//
// Each bin has a slot, a number given when it is created and given again
// to a later bin once it is deleted. Slots come in blocks of blockSlots,
// and a block is the unit the file stores (bucket usage_blocks; each
// bin's slot is in its account_bins value) and the
// flush writes: requests spread over 100,000 bins leave some 800 blocks to
// write each second rather than 100,000 records. Counting a request
// through a Counter costs a shared lock on the slot's block and two atomic
// updates, allocates nothing, and the table holds nothing the garbage
// collector has to scan but the few hundred block pointers.
//
// Slots are handed out and taken back only by writers holding
// DB.usageMu, which the flush holds too, so that a block written by a
// flush never holds a slot of a bin that was deleted meanwhile.
type usageTable struct {
	seed    maphash.Seed
	stripes [usageStripes]usageStripe
	blocks  atomic.Pointer[[]*usageBlock] // replaced, never changed, when it grows

	// Held under DB.usageMu.
	free []uint32 // slots of deleted bins, to hand out again
	next uint32   // the lowest slot never handed out
}

// blockSlots is how many slots a block holds: 2 KiB on disk.
const blockSlots = 128

// usageStripes is how many locks the slot index is split over, so that
// lookups on different cores (reads of bins, RecordRequest) rarely take
// the same one.
const usageStripes = 64

// usageStripe is a part of the index from bin SID to slot.
type usageStripe struct {
	mu    sync.RWMutex
	slots map[binKey]uint32
	_     [64 - 32]byte // a cache line each
}

// binKey is a bin SID as an array: a map keyed by it holds no pointers.
type binKey [sidLen]byte

// sidLen is the length of every SID: two letters and 32 hex digits.
const sidLen = 34

func toBinKey(sid string) (binKey, bool) {
	var k binKey
	if len(sid) != sidLen {
		return k, false
	}
	copy(k[:], sid)
	return k, true
}

// usageBlock is blockSlots slots and whether any changed since the last
// flush began. A slot changes hands under the write lock; a request is
// counted under the read lock, so never into a slot that changed hands
// since its Counter was made.
type usageBlock struct {
	mu    sync.RWMutex
	dirty atomic.Bool
	slots [blockSlots]usageSlot
}

// usageSlot is one bin's counters.
type usageSlot struct {
	requests atomic.Int64
	last     atomic.Int64 // Unix nanoseconds of the latest request, 0 for none
	// tag grows by one each time the slot is given to a bin and each
	// time it is taken back: odd while a bin has it. Guarded by the
	// block's lock.
	tag uint32
}

// Counter counts the requests of one bin (Store.Count) without looking the
// bin up by SID each time: a caller serving a bin many times gets its
// Counter once (Store.Counter) and keeps it. It holds no pointers. The zero
// Counter, and the Counter of a bin deleted since, count nothing. Its
// fields mean something only to the Store that made it: the slot of the
// bin's counters and a tag that changes whenever the slot changes hands.
type Counter struct {
	Slot uint32
	Tag  uint32
}

func newUsageTable() *usageTable {
	t := &usageTable{seed: maphash.MakeSeed()}
	for i := range t.stripes {
		t.stripes[i].slots = map[binKey]uint32{}
	}
	t.blocks.Store(new([]*usageBlock))
	return t
}

func (t *usageTable) stripe(k *binKey) *usageStripe {
	return &t.stripes[maphash.Bytes(t.seed, k[:])%usageStripes]
}

// slot returns the counters of slot n and their block; the block exists.
func (t *usageTable) slot(n uint32) (*usageBlock, *usageSlot) {
	b := (*t.blocks.Load())[n/blockSlots]
	return b, &b.slots[n%blockSlots]
}

// counter returns the Counter of bin sid, zero when it has no slot.
func (t *usageTable) counter(sid string) Counter {
	k, ok := toBinKey(sid)
	if !ok {
		return Counter{}
	}
	st := t.stripe(&k)
	st.mu.RLock()
	defer st.mu.RUnlock()
	n, ok := st.slots[k]
	if !ok {
		return Counter{}
	}
	b, s := t.slot(n)
	b.mu.RLock()
	defer b.mu.RUnlock()
	return Counter{Slot: n, Tag: s.tag}
}

// count counts a request at Unix nanoseconds at, unless c's slot has
// changed hands since c was made.
func (t *usageTable) count(c Counter, at int64) {
	if c.Tag == 0 {
		return
	}
	b, s := t.slot(c.Slot)
	b.mu.RLock()
	defer b.mu.RUnlock()
	if s.tag != c.Tag {
		return
	}
	s.requests.Add(1)
	for last := s.last.Load(); at > last && !s.last.CompareAndSwap(last, at); last = s.last.Load() {
	}
	// After the counts: a flush that clears the flag before this line
	// either wrote them or leaves the block to the next flush.
	if !b.dirty.Load() {
		b.dirty.Store(true)
	}
}

// usage returns the counters of bin sid, zero when it has no slot.
func (t *usageTable) usage(sid string) usageRecord {
	k, ok := toBinKey(sid)
	if !ok {
		return usageRecord{}
	}
	st := t.stripe(&k)
	st.mu.RLock()
	defer st.mu.RUnlock()
	n, ok := st.slots[k]
	if !ok {
		return usageRecord{}
	}
	_, s := t.slot(n)
	return usageRecord{NumRequests: s.requests.Load(), DateLastAccessed: fromUnixNano(s.last.Load())}
}

// reserve hands out a slot for a bin being created, empty in memory.
// DB.usageMu is held.
func (t *usageTable) reserve() uint32 {
	if n := len(t.free); n > 0 {
		slot := t.free[n-1]
		t.free = t.free[:n-1]
		return slot
	}
	slot := t.next
	t.next++
	if blocks := *t.blocks.Load(); int(slot/blockSlots) >= len(blocks) {
		grown := append(blocks[:len(blocks):len(blocks)], new(usageBlock))
		t.blocks.Store(&grown)
	}
	return slot
}

// set sets the counters of a slot reserved for a bin not yet given it,
// to the counters the bin brings. DB.usageMu is held.
func (t *usageTable) set(slot uint32, u usageRecord) {
	_, s := t.slot(slot)
	s.requests.Store(u.NumRequests)
	var last int64
	if !u.DateLastAccessed.IsZero() {
		last = u.DateLastAccessed.UnixNano()
	}
	s.last.Store(last)
}

// unreserve takes back a slot whose bin was not created. DB.usageMu is
// held.
func (t *usageTable) unreserve(slot uint32) {
	t.free = append(t.free, slot)
}

// assign gives bin sid its slot, once the bin is committed.
func (t *usageTable) assign(sid string, slot uint32) {
	k, ok := toBinKey(sid)
	if !ok {
		return
	}
	st := t.stripe(&k)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.slots[k] = slot
	b, s := t.slot(slot)
	b.mu.Lock()
	s.tag++ // odd: given
	b.mu.Unlock()
}

// release takes back the slot of bin sid, once its deletion is committed,
// and empties it. DB.usageMu is held.
func (t *usageTable) release(sid string) {
	k, ok := toBinKey(sid)
	if !ok {
		return
	}
	st := t.stripe(&k)
	st.mu.Lock()
	n, ok := st.slots[k]
	delete(st.slots, k)
	st.mu.Unlock()
	if !ok {
		return
	}
	b, s := t.slot(n)
	b.mu.Lock()
	s.tag++ // even: taken back, and every Counter of it stale
	s.requests.Store(0)
	s.last.Store(0)
	b.mu.Unlock()
	t.free = append(t.free, n)
}

// dirtyBlocks is how many blocks changed since the last flush began.
func (t *usageTable) dirtyBlocks() int {
	n := 0
	for _, b := range *t.blocks.Load() {
		if b.dirty.Load() {
			n++
		}
	}
	return n
}

// takeDirty clears the flag of every changed block and returns their
// numbers, for a flush to write. DB.usageMu is held.
func (t *usageTable) takeDirty() []uint32 {
	var taken []uint32
	for i, b := range *t.blocks.Load() {
		if b.dirty.Swap(false) {
			taken = append(taken, uint32(i))
		}
	}
	return taken
}

// markDirty flags blocks again, after a flush that failed to write them.
func (t *usageTable) markDirty(blocks []uint32) {
	all := *t.blocks.Load()
	for _, i := range blocks {
		all[i].dirty.Store(true)
	}
}

// encode appends block i as stored: each slot as a usageRecord.
func (t *usageTable) encode(dst []byte, i uint32) []byte {
	b := (*t.blocks.Load())[i]
	for j := range b.slots {
		s := &b.slots[j]
		dst = appendUsage(dst, s.requests.Load(), s.last.Load())
	}
	return dst
}

// load fills an empty table from the file: the slot of every bin, kept
// with it in account_bins, and the counters of every slot that has a bin.
//
// The table is as long as the highest slot, so a slot number read from
// the file is checked before anything is sized by it: a slot is handed
// out anew only when every lower one is in use, so every slot, and every
// stored block, lies below the number of bins ever created, the bins
// bucket's sequence.
func (t *usageTable) load(tx *bbolt.Tx) error {
	created := tx.Bucket(bucketBins).Sequence()
	used := map[uint32]bool{}
	err := tx.Bucket(bucketAccountBins).ForEach(func(k, v []byte) error {
		sid, n, err := parseAccountBin(k, v)
		if err != nil {
			return err
		}
		if uint64(n) >= created {
			return fmt.Errorf("usage slot %d of bin %s is beyond the %d bins ever created", n, sid, created)
		}
		key, _ := toBinKey(string(sid))
		if used[n] {
			return fmt.Errorf("usage slot %d of bin %s is another bin's too", n, sid)
		}
		used[n] = true
		t.stripe(&key).slots[key] = n
		t.next = max(t.next, n+1)
		return nil
	})
	if err != nil {
		return err
	}
	blocks := make([]*usageBlock, (t.next+blockSlots-1)/blockSlots)
	for i := range blocks {
		blocks[i] = new(usageBlock)
	}
	t.blocks.Store(&blocks)
	for n := range t.next {
		if used[n] {
			blocks[n/blockSlots].slots[n%blockSlots].tag = 1
		} else {
			t.free = append(t.free, n)
		}
	}
	return tx.Bucket(bucketUsageBlocks).ForEach(func(k, v []byte) error {
		i, err := blockNumber(k, v)
		if err != nil {
			return err
		}
		if uint64(i)*blockSlots >= created {
			return fmt.Errorf("usage block %d is beyond the slots of the %d bins ever created", i, created)
		}
		if int(i) >= len(blocks) {
			return nil // slots of bins deleted since
		}
		for j := range blocks[i].slots {
			if !used[i*blockSlots+uint32(j)] {
				continue // a deleted bin's
			}
			requests, last := usageAt(v, uint32(j))
			blocks[i].slots[j].requests.Store(requests)
			blocks[i].slots[j].last.Store(last)
		}
		return nil
	})
}

// blockNumber checks a stored block and returns its number.
func blockNumber(k, v []byte) (uint32, error) {
	if len(k) != 4 || len(v) != blockSlots*usageRecordSize {
		return 0, fmt.Errorf("decode usage block %x: key of %d bytes, value of %d", k, len(k), len(v))
	}
	return binary.BigEndian.Uint32(k), nil
}

// emptySlot empties a slot in its stored block, which may hold the
// counters of a deleted bin, for a bin being created.
func emptySlot(tx *bbolt.Tx, slot uint32) error {
	return putSlot(tx, slot, usageRecord{})
}

// putSlot stores u as the counters of slot in its block, writing the
// block only when they change it.
func putSlot(tx *bbolt.Tx, slot uint32, u usageRecord) error {
	blocks := tx.Bucket(bucketUsageBlocks)
	key := blockKey(slot / blockSlots)
	value := u.marshal()
	stored := blocks.Get(key)
	var block []byte
	if stored == nil {
		if u == (usageRecord{}) {
			return nil // a missing block reads as zeros
		}
		block = make([]byte, blockSlots*usageRecordSize)
	} else {
		if _, err := blockNumber(key, stored); err != nil {
			return err
		}
		if bytes.Equal(stored[(slot%blockSlots)*usageRecordSize:][:usageRecordSize], value) {
			return nil
		}
		block = append([]byte(nil), stored...)
	}
	copy(block[(slot%blockSlots)*usageRecordSize:], value)
	return blocks.Put(key, block)
}

// fromUnixNano is the time of Unix nanoseconds n in UTC, zero for 0.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
