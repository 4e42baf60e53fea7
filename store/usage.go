package store

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Event is an entry of a bin's event log: something a render reported,
// such as a request value that broke its slot's rule.
type Event struct {
	Time     time.Time
	Severity string // "error" or "warning", as the caller names them
	Code     string
	Message  string
	Slot     string // the template slot concerned, if any
	Line     int    // position in the template, 0 when unknown
	Column   int
}

// RecordRequest counts a request to the bin at time at (now when zero). It
// does no I/O: the count is buffered in memory, visible at once to Bin,
// BinBySID and ListBins, and written by the next flush. Counts for a SID
// that is not a bin when they are flushed are dropped.
func (db *DB) RecordRequest(sid string, at time.Time) {
	if at.IsZero() {
		at = now()
	}
	db.buf.recordRequest(sid, at.UTC().Round(0))
}

// AddEvent appends e to the bin's event log, stamped now when e.Time is
// zero. Like RecordRequest it does no I/O; the log keeps the newest
// EventLimit events of each bin.
func (db *DB) AddEvent(sid string, e Event) {
	if e.Time.IsZero() {
		e.Time = now()
	}
	e.Time = e.Time.UTC().Round(0)
	db.buf.addEvent(sid, e)
}

// Events returns up to limit of the bin's most recent events, newest first,
// including those not flushed yet; an empty log is an empty, non-nil slice.
// A limit below 1 or above EventLimit means EventLimit. ErrNotFound when
// there is no such bin or it belongs to another account.
func (db *DB) Events(accountSID, sid string, limit int) ([]Event, error) {
	if limit < 1 || limit > db.opts.EventLimit {
		limit = db.opts.EventLimit
	}
	batches := db.buf.snapshot()
	var events []Event
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		if _, err := findBin(tx, accountSID, sid); err != nil {
			return err
		}
		events = db.buf.events(batches, flushedGeneration(tx), sid)
		prefix := []byte(sid)
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix) && len(events) < limit; k, v = c.Prev() {
			var r eventRecord
			if err := decode(k, v, &r); err != nil {
				return err
			}
			events = append(events, Event(r))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("events", err)
	}
	if len(events) > limit {
		events = events[:limit]
	}
	return events, nil
}

// Flush writes the buffered usage counters and events now, in one write
// transaction, instead of waiting for the background flush. It does
// nothing when nothing is buffered, or when the DB is read-only and keeps
// them in memory. When it fails, what it was writing stays buffered and
// the next flush tries again.
func (db *DB) Flush() error {
	if db.opts.ReadOnly {
		return nil
	}
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	batches := db.buf.take()
	if len(batches) == 0 {
		return nil
	}
	err := db.update(func(tx *bbolt.Tx) error {
		for _, b := range batches {
			if err := writeBatch(tx, b, db.opts.EventLimit); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyFlushGeneration, u64(batches[len(batches)-1].generation))
	})
	if err != nil {
		return fmt.Errorf("store: flush: %w", err)
	}
	db.buf.committed(len(batches))
	return nil
}

// writeBatch adds a batch to the stored usage counters and event logs,
// skipping bins that no longer exist, and trims each log to limit events.
func writeBatch(tx *bbolt.Tx, b *batch, limit int) error {
	bins, usage, events := tx.Bucket(bucketBins), tx.Bucket(bucketUsage), tx.Bucket(bucketEvents)
	// In key order: neighbouring writes land on the same pages. One cursor
	// serves every read, as a Get would make a cursor each time.
	type entry struct {
		sid string
		d   *binDelta
	}
	entries := make([]entry, 0, len(b.bins))
	for sid, d := range b.bins {
		entries = append(entries, entry{sid, d})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.sid, b.sid) })
	counters := usage.Cursor()
	for _, e := range entries {
		sid, d := e.sid, e.d
		key := []byte(sid)
		var stored []byte
		if k, v := counters.Seek(key); bytes.Equal(k, key) {
			stored = v
		}
		// DeleteBin deletes a bin's usage with it: a bin with usage exists,
		// and the lookup in bins is needed only for its first flush.
		if stored == nil && bins.Get(key) == nil {
			continue // deleted since
		}
		if d.requests > 0 {
			var u usageRecord
			if stored != nil {
				var err error
				if u, err = unmarshalUsage(key, stored); err != nil {
					return err
				}
			}
			u.NumRequests += d.requests
			if d.lastAccessed.After(u.DateLastAccessed) {
				u.DateLastAccessed = d.lastAccessed
			}
			if err := usage.Put(key, u.marshal()); err != nil {
				return err
			}
		}
		if len(d.events) == 0 {
			continue
		}
		for _, e := range d.events {
			seq, err := events.NextSequence()
			if err != nil {
				return err
			}
			if err := put(events, seqKey(sid, seq), eventRecord(e)); err != nil {
				return err
			}
		}
		if err := trimEvents(events, key, limit); err != nil {
			return err
		}
	}
	return nil
}

// trimEvents deletes the oldest events of a bin beyond the newest limit.
func trimEvents(events *bbolt.Bucket, prefix []byte, limit int) error {
	var keys [][]byte
	c := events.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for len(keys) > limit {
		if err := events.Delete(keys[0]); err != nil {
			return err
		}
		keys = keys[1:]
	}
	return nil
}

// readUsage reads a bin's flushed usage counters, zero when it has none.
func readUsage(tx *bbolt.Tx, sid string) (usageRecord, error) {
	key := []byte(sid)
	data := tx.Bucket(bucketUsage).Get(key)
	if data == nil {
		return usageRecord{}, nil
	}
	return unmarshalUsage(key, data)
}

// flushedGeneration is the generation of the newest batch written to the
// file as tx sees it.
func flushedGeneration(tx *bbolt.Tx) uint64 {
	return getU64(tx.Bucket(bucketMeta), keyFlushGeneration)
}

// buffer holds usage counters and events not yet written to the file.
//
// They gather in the pending batch. A flush moves the pending batch to the
// queue, after which it never changes, and writes every queued batch in one
// transaction together with the generation of the newest; once that
// commits, it drops them from the queue. Generations grow by one per batch.
// A reader takes a snapshot of the batches before it begins its read
// transaction, reads the flushed generation in it, and adds the batches of
// its snapshot with a higher generation: exactly the ones that are not in
// the file as its transaction sees it, so nothing is counted twice or
// missed while a flush is under way.
type buffer struct {
	mu         sync.Mutex
	eventLimit int
	pending    *batch
	queued     []*batch // taken by a flush, not yet committed; oldest first
}

// batch is what was recorded between two flushes.
type batch struct {
	generation uint64
	bins       map[string]*binDelta
}

// binDelta is one bin's share of a batch.
type binDelta struct {
	requests     int64
	lastAccessed time.Time
	events       []Event // oldest first, at most eventLimit
}

func (b *buffer) init(generation uint64, eventLimit int) {
	b.eventLimit = eventLimit
	b.pending = &batch{generation: generation, bins: map[string]*binDelta{}}
}

// delta returns the pending entry of a bin, creating it. b.mu is held.
func (b *buffer) delta(sid string) *binDelta {
	d := b.pending.bins[sid]
	if d == nil {
		d = &binDelta{}
		b.pending.bins[sid] = d
	}
	return d
}

func (b *buffer) recordRequest(sid string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.delta(sid)
	d.requests++
	if at.After(d.lastAccessed) {
		d.lastAccessed = at
	}
}

func (b *buffer) addEvent(sid string, e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.delta(sid)
	if len(d.events) == b.eventLimit {
		d.events = slices.Delete(d.events, 0, 1)
	}
	d.events = append(d.events, e)
}

// snapshot returns the batches not yet written: the queued ones and the
// pending one, oldest first.
func (b *buffer) snapshot() []*batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append(slices.Clip(b.queued), b.pending)
}

// addUsage adds to u the bin's counters from the batches of a snapshot that
// are newer than the flushed generation.
func (b *buffer) addUsage(batches []*batch, flushed uint64, sid string, u usageRecord) usageRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, bt := range batches {
		if d := bt.bins[sid]; d != nil && bt.generation > flushed {
			u.NumRequests += d.requests
			if d.lastAccessed.After(u.DateLastAccessed) {
				u.DateLastAccessed = d.lastAccessed
			}
		}
	}
	return u
}

// events returns the bin's events from the batches of a snapshot that are
// newer than the flushed generation, newest first.
func (b *buffer) events(batches []*batch, flushed uint64, sid string) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	events := []Event{}
	for _, bt := range slices.Backward(batches) {
		if d := bt.bins[sid]; d != nil && bt.generation > flushed {
			for _, e := range slices.Backward(d.events) {
				events = append(events, e)
			}
		}
	}
	return events
}

// take queues the pending batch, unless it is empty, and returns the queue
// for a flush to write.
func (b *buffer) take() []*batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.pending.bins); n > 0 {
		b.queued = append(b.queued, b.pending)
		// Sized for as many bins as the last interval: no regrowth when
		// requests spread over many bins.
		b.pending = &batch{generation: b.pending.generation + 1, bins: make(map[string]*binDelta, n)}
	}
	return slices.Clone(b.queued)
}

// committed drops the n oldest queued batches, now written.
func (b *buffer) committed(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queued = slices.Delete(b.queued, 0, n)
}

// discard forgets the pending usage and events of a deleted bin.
func (b *buffer) discard(sid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pending.bins, sid)
}

// pendingBins is how many bins have something in the pending batch.
func (b *buffer) pendingBins() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending.bins)
}
