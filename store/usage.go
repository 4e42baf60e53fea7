package store

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

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
// does no I/O and allocates nothing: the count is kept in memory (see
// usageTable), visible at once to Bin, BinBySID and ListBins, and written
// by the next flush. A SID that is not a bin's is not counted. It is
// Count with the bin's Counter, looked up each time.
func (db *DB) RecordRequest(sid string, at time.Time) {
	db.Count(db.Counter(sid), at)
}

// Counter returns what counts the requests of bin sid, for Count; it
// counts nothing when there is no such bin.
func (db *DB) Counter(sid string) Counter {
	return db.usage.counter(sid)
}

// Count counts a request at time at (now when zero) to the bin c was made
// for, as RecordRequest does, without looking the bin up: unless the bin
// has been deleted since.
func (db *DB) Count(c Counter, at time.Time) {
	if at.IsZero() {
		at = time.Now()
	}
	db.usage.count(c, at.UnixNano())
}

// Bounds of an event's text fields, in bytes. An event records what a
// request did, and a request is anyone's to make: a longer field is cut at
// a character boundary and ends with "…", so that a bin's log holds at most
// EventLimit times about 1.5 KiB however large the requests are.
const (
	MaxEventMessageBytes  = 1024
	MaxEventSlotBytes     = 256
	MaxEventCodeBytes     = 32
	MaxEventSeverityBytes = 16
)

// AddEvent appends e to the bin's event log, stamped now when e.Time is
// zero, with its text fields cut to their bounds (MaxEventMessageBytes…).
// Like RecordRequest it does no I/O: the event is buffered until the next
// flush. The log keeps the newest EventLimit events of each bin.
func (db *DB) AddEvent(sid string, e Event) {
	db.buf.addEvent(sid, BoundEvent(e))
}

// BoundEvent returns e as every backend's AddEvent keeps it: stamped now
// when e.Time is zero, in UTC without a monotonic reading, and with its
// text fields cut to their bounds (MaxEventMessageBytes…).
func BoundEvent(e Event) Event {
	if e.Time.IsZero() {
		e.Time = now()
	}
	e.Time = e.Time.UTC().Round(0)
	e.Severity = truncateText(e.Severity, MaxEventSeverityBytes)
	e.Code = truncateText(e.Code, MaxEventCodeBytes)
	e.Message = truncateText(e.Message, MaxEventMessageBytes)
	e.Slot = truncateText(e.Slot, MaxEventSlotBytes)
	return e
}

// truncateText returns s when it is at most max bytes, else its longest
// prefix that ends on a character boundary and, followed by "…", fits in
// max bytes.
func truncateText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
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
	err := db.view(func(tx *bbolt.Tx) error {
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

// Flush writes the usage counters changed and the events buffered since
// the last flush now, in one write transaction, instead of waiting for the
// background flush. It does nothing when nothing changed, or when the DB
// is read-only and keeps them in memory. When it fails, what it was
// writing is kept and the next flush tries again.
func (db *DB) Flush() error {
	if db.opts.ReadOnly {
		return nil
	}
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.usageMu.Lock() // no slot changes hands while its block is written
	defer db.usageMu.Unlock()
	blocks := db.usage.takeDirty()
	batches := db.buf.take()
	if len(blocks) == 0 && len(batches) == 0 {
		return nil
	}
	err := db.update(func(tx *bbolt.Tx) error {
		if err := writeUsage(tx, db.usage, blocks); err != nil {
			return err
		}
		if len(batches) == 0 {
			return nil
		}
		for _, b := range batches {
			if err := writeEvents(tx, b, db.opts.EventLimit); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyFlushGeneration, u64(batches[len(batches)-1].generation))
	})
	if err != nil {
		db.usage.markDirty(blocks)
		return fmt.Errorf("store: flush: %w", err)
	}
	db.buf.committed(len(batches))
	return nil
}

// writeUsage writes the blocks of t numbered in blocks.
func writeUsage(tx *bbolt.Tx, t *usageTable, blocks []uint32) error {
	usage := tx.Bucket(bucketUsageBlocks)
	for _, i := range blocks {
		// bbolt keeps the value until the transaction ends: one buffer each.
		value := t.encode(make([]byte, 0, blockSlots*usageRecordSize), i)
		if err := usage.Put(blockKey(i), value); err != nil {
			return err
		}
	}
	return nil
}

// writeEvents adds the events of a batch to the stored event logs,
// skipping bins that no longer exist, and trims each log to limit events.
func writeEvents(tx *bbolt.Tx, b *batch, limit int) error {
	bins, events := tx.Bucket(bucketBins), tx.Bucket(bucketEvents)
	for sid, logged := range b.events {
		key := []byte(sid)
		if bins.Get(key) == nil {
			continue // deleted since
		}
		for _, e := range logged {
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

// flushedGeneration is the generation of the newest batch written to the
// file as tx sees it.
func flushedGeneration(tx *bbolt.Tx) uint64 {
	return getU64(tx.Bucket(bucketMeta), keyFlushGeneration)
}

// buffer holds the events not yet written to the file.
//
// They gather in the pending batch. A flush moves the pending batch to the
// queue, after which it never changes, and writes every queued batch in one
// transaction together with the generation of the newest; once that
// commits, it drops them from the queue. Generations grow by one per batch.
// A reader takes a snapshot of the batches before it begins its read
// transaction, reads the flushed generation in it, and adds the batches of
// its snapshot with a higher generation: exactly the ones that are not in
// the file as its transaction sees it, so nothing is read twice or missed
// while a flush is under way.
type buffer struct {
	mu         sync.Mutex
	eventLimit int
	pending    *batch
	queued     []*batch // taken by a flush, not yet committed; oldest first
}

// batch is what was logged between two flushes: events by bin SID, oldest
// first, at most eventLimit per bin.
type batch struct {
	generation uint64
	events     map[string][]Event
}

func (b *buffer) init(generation uint64, eventLimit int) {
	b.eventLimit = eventLimit
	b.pending = &batch{generation: generation, events: map[string][]Event{}}
}

func (b *buffer) addEvent(sid string, e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	logged := b.pending.events[sid]
	if len(logged) == b.eventLimit {
		logged = slices.Delete(logged, 0, 1)
	}
	b.pending.events[sid] = append(logged, e)
}

// snapshot returns the batches not yet written: the queued ones and the
// pending one, oldest first.
func (b *buffer) snapshot() []*batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append(slices.Clip(b.queued), b.pending)
}

// events returns the bin's events from the batches of a snapshot that are
// newer than the flushed generation, newest first.
func (b *buffer) events(batches []*batch, flushed uint64, sid string) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	events := []Event{}
	for _, bt := range slices.Backward(batches) {
		if bt.generation > flushed {
			for _, e := range slices.Backward(bt.events[sid]) {
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
	if len(b.pending.events) > 0 {
		b.queued = append(b.queued, b.pending)
		b.pending = &batch{generation: b.pending.generation + 1, events: map[string][]Event{}}
	}
	return slices.Clone(b.queued)
}

// committed drops the n oldest queued batches, now written.
func (b *buffer) committed(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queued = slices.Delete(b.queued, 0, n)
}

// discard forgets the pending events of a deleted bin.
func (b *buffer) discard(sid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pending.events, sid)
}

// pendingBins is how many bins have events in the pending batch.
func (b *buffer) pendingBins() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending.events)
}
