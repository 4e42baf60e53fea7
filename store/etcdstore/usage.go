package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/twimlbin/twimlbin/store"
)

// Counter returns what counts the requests of bin sid, for Count; it
// counts nothing when the node knows no such bin, and stops counting when
// the bin is deleted.
func (s *Store) Counter(sid string) store.Counter {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.mem.bins[sid]
	if !ok {
		return store.Counter{}
	}
	slot, tag := s.counters.counter(e.slot)
	return store.Counter{Slot: slot, Tag: tag}
}

// Count counts a request at time at (now when zero) to the bin c was made
// for, unless it has been deleted since. It writes nothing: the count
// waits in memory, where reads of the bin add it, for the next flush.
func (s *Store) Count(c store.Counter, at time.Time) {
	if at.IsZero() {
		at = time.Now()
	}
	s.counters.count(c.Slot, c.Tag, at.UnixNano())
}

// RecordRequest counts a request to bin sid at time at (now when zero),
// as Count does with the bin's Counter. A SID that is not a bin's is not
// counted.
func (s *Store) RecordRequest(sid string, at time.Time) {
	s.Count(s.Counter(sid), at)
}

// AddEvent adds e to the bin's event log, bounded as store.BoundEvent
// says. Like Count it writes nothing: the event waits in memory, where
// Events finds it, for the next flush, which keeps the newest EventLimit
// of the bin. An event of a bin the node does not know is dropped.
func (s *Store) AddEvent(sid string, e store.Event) {
	s.mu.RLock()
	_, ok := s.mem.bins[sid]
	s.mu.RUnlock()
	if !ok {
		return
	}
	s.events.add(sid, store.BoundEvent(e), func(nanos int64, seq uint64) string {
		return s.keys.event(sid, nanos, s.node, seq)
	})
}

// Events returns up to limit of the bin's most recent events, newest
// first: those in etcd, written by every node, and those this node has
// not flushed yet. A limit below 1 or above EventLimit means EventLimit.
// store.ErrNotFound when there is no such bin or it belongs to another
// account.
func (s *Store) Events(accountSID, sid string, limit int) ([]store.Event, error) {
	if limit < 1 || limit > s.opts.EventLimit {
		limit = s.opts.EventLimit
	}
	// Taken before the read: an event a flush writes meanwhile is in
	// both, under the same key, and counted once.
	buffered := s.events.snapshot(sid)
	ctx, cancel := s.request()
	defer cancel()
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.keys.bin(sid)),
		clientv3.OpGet(s.keys.events(sid), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(limit))),
	).Commit()
	if err != nil {
		return nil, s.failure("events", err)
	}
	s.answered()
	if _, err := s.ownedBin(resp.Responses[0].GetResponseRange().Kvs, accountSID, sid); err != nil {
		return nil, s.failure("events", err)
	}
	all := map[string]store.Event{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		var r eventRecord
		if err := decode(string(kv.Key), kv.Value, &r); err != nil {
			return nil, s.failure("events", err)
		}
		all[string(kv.Key)] = store.Event(r)
	}
	for _, b := range buffered {
		all[b.key] = b.event
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(b, a) })
	events := make([]store.Event, 0, min(limit, len(keys)))
	for _, k := range keys[:min(limit, len(keys))] {
		events = append(events, all[k])
	}
	return events, nil
}

// Most bins one flush transaction writes the usage of: each takes two
// comparisons, and etcd allows 128 operations of each kind.
const usagePerTxn = 60

// Most events (and bins) one flush transaction writes.
const eventsPerTxn = 100

// Flush writes the requests this node counted and the events it took
// since the last flush: each bin's count is added to what etcd holds,
// in transactions that compare the revision of what they add to and
// read again when another node's flush came first, so counts of nodes
// flushing at once all add up. Events are written, then each bin's log is
// trimmed to its EventLimit newest. What fails to be written stays in
// memory, counted by reads, and the next flush writes it.
func (s *Store) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	ctx, cancel := s.request()
	defer cancel()
	if err := errors.Join(s.flushUsage(ctx), s.flushEvents(ctx)); err != nil {
		return s.failure("flush", err)
	}
	return nil
}

// usageWrite is what a flush adds to one bin's usage key.
type usageWrite struct {
	sid       string
	createRev int64
	base      usageRecord // what etcd holds, as last seen
	baseRev   int64       // and its revision, 0 for none
	add       inflightUsage
}

func (w usageWrite) value() usageRecord {
	return usageRecord{
		Requests:  w.base.Requests + w.add.requests,
		LastNanos: max(w.base.LastNanos, w.add.lastNanos),
		Flush:     w.add.token,
	}
}

// flushUsage takes the requests counted since the last flush as a new
// flush in flight, under a new token, and writes every flush in flight.
// A bin with a flush in flight from before (one whose write failed, and
// may or may not have landed) keeps its new counts for a later flush, so
// that the earlier one is written alone, and counted once: when its token
// is seen in etcd, it landed.
func (s *Store) flushUsage(ctx context.Context) error {
	s.flushSeq++
	writes := s.takeUsage(fmt.Sprintf("%s-%d", s.node, s.flushSeq))
	for chunk := range slices.Chunk(writes, usagePerTxn) {
		if err := s.writeUsage(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

// takeUsage moves the requests counted since the last flush in flight
// under token, and returns what is to be written of every bin with a
// flush in flight. s.flushMu is held.
func (s *Store) takeUsage(token string) []usageWrite {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters.take(func(sid string, n uint32) bool {
		e := s.mem.bins[sid]
		if e == nil || e.inflight.token != "" {
			return false
		}
		requests, last := s.counters.swap(n)
		e.inflight = inflightUsage{token: token, requests: requests, lastNanos: last}
		s.mem.inflight[sid] = struct{}{}
		return true
	})
	var writes []usageWrite
	for sid := range s.mem.inflight {
		e := s.mem.bins[sid]
		writes = append(writes, usageWrite{sid: sid, createRev: e.createRev, base: e.usage, baseRev: e.usageModRev, add: e.inflight})
	}
	return writes
}

// writeUsage writes one transaction's worth of usage, again until it
// lands.
func (s *Store) writeUsage(ctx context.Context, writes []usageWrite) error {
	for len(writes) > 0 {
		var cmps []clientv3.Cmp
		var puts, reads []clientv3.Op
		for _, w := range writes {
			cmps = append(cmps,
				clientv3.Compare(clientv3.ModRevision(s.keys.usage(w.sid)), "=", w.baseRev),
				clientv3.Compare(clientv3.CreateRevision(s.keys.bin(w.sid)), "=", w.createRev))
			puts = append(puts, clientv3.OpPut(s.keys.usage(w.sid), encode(w.value())))
			reads = append(reads, clientv3.OpGet(s.keys.usage(w.sid)), clientv3.OpGet(s.keys.bin(w.sid), clientv3.WithKeysOnly()))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(puts...).Else(reads...).Commit()
		if err != nil {
			return err
		}
		s.answered()
		rev := resp.Header.Revision
		s.mu.Lock()
		if resp.Succeeded {
			for _, w := range writes {
				s.mem.putUsage(w.sid, w.value(), rev)
			}
			s.mu.Unlock()
			return nil
		}
		// Another node's flush came first, or a bin went: read what etcd
		// holds, and write again on that.
		again := writes[:0]
		for i, w := range writes {
			usage, bin := resp.Responses[2*i].GetResponseRange().Kvs, resp.Responses[2*i+1].GetResponseRange().Kvs
			if len(bin) == 0 || bin[0].CreateRevision != w.createRev {
				continue // deleted: its counts go with it
			}
			w.base, w.baseRev = usageRecord{}, 0
			if len(usage) > 0 {
				if err := decode(string(usage[0].Key), usage[0].Value, &w.base); err != nil {
					s.mu.Unlock()
					return err
				}
				w.baseRev = usage[0].ModRevision
				s.mem.putUsage(w.sid, w.base, w.baseRev)
				if w.base.Flush == w.add.token {
					continue // an earlier try landed
				}
			}
			again = append(again, w)
		}
		s.mu.Unlock()
		writes = again
	}
	return nil
}

// flushEvents writes the events taken since the last flush, skipping
// those of bins deleted meanwhile, then trims the logs it wrote to.
func (s *Store) flushEvents(ctx context.Context) error {
	taken := s.events.take()
	type binEvents struct {
		sid       string
		createRev int64
		events    []keyedEvent
	}
	var bins []binEvents
	var gone []string
	s.mu.RLock()
	for sid, events := range taken {
		if e, ok := s.mem.bins[sid]; ok {
			bins = append(bins, binEvents{sid, e.createRev, events})
		} else {
			gone = append(gone, sid)
		}
	}
	s.mu.RUnlock()
	for _, sid := range gone {
		s.events.discard(sid)
	}

	// Transactions of at most eventsPerTxn events, a bin's split over
	// several when it has more.
	type part struct {
		sid       string
		createRev int64
		events    []keyedEvent
	}
	var txns [][]part
	var cur []part
	n := 0
	for _, b := range bins {
		for events := range slices.Chunk(b.events, eventsPerTxn) {
			if n+len(events) > eventsPerTxn {
				txns, cur, n = append(txns, cur), nil, 0
			}
			cur, n = append(cur, part{b.sid, b.createRev, events}), n+len(events)
		}
		s.untrimmed[b.sid] = struct{}{}
	}
	if len(cur) > 0 {
		txns = append(txns, cur)
	}
	for _, parts := range txns {
		for len(parts) > 0 {
			var cmps []clientv3.Cmp
			var puts, reads []clientv3.Op
			for _, p := range parts {
				cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(s.keys.bin(p.sid)), "=", p.createRev))
				reads = append(reads, clientv3.OpGet(s.keys.bin(p.sid), clientv3.WithKeysOnly()))
				for _, e := range p.events {
					puts = append(puts, clientv3.OpPut(e.key, encode(eventRecord(e.event))))
				}
			}
			resp, err := s.cli.Txn(ctx).If(cmps...).Then(puts...).Else(reads...).Commit()
			if err != nil {
				return err
			}
			if resp.Succeeded {
				for _, p := range parts {
					s.events.written(p.sid, p.events)
				}
				break
			}
			kept := parts[:0]
			for i, p := range parts {
				if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) == 0 || kvs[0].CreateRevision != p.createRev {
					s.events.discard(p.sid) // deleted since
					delete(s.untrimmed, p.sid)
					continue
				}
				kept = append(kept, p)
			}
			parts = kept
		}
	}
	return s.trimEvents(ctx)
}

// trimEvents deletes the oldest events of the logs written to, beyond the
// EventLimit newest of each.
func (s *Store) trimEvents(ctx context.Context) error {
	sids := make([]string, 0, len(s.untrimmed))
	for sid := range s.untrimmed {
		sids = append(sids, sid)
	}
	limit := s.opts.EventLimit
	for chunk := range slices.Chunk(sids, eventsPerTxn) {
		var reads []clientv3.Op
		for _, sid := range chunk {
			reads = append(reads, clientv3.OpGet(s.keys.events(sid), clientv3.WithPrefix(), clientv3.WithKeysOnly(),
				clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(limit+1))))
		}
		resp, err := s.cli.Txn(ctx).Then(reads...).Commit()
		if err != nil {
			return err
		}
		var deletes []clientv3.Op
		for i, sid := range chunk {
			if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) > limit {
				// The newest key to delete, and every older one.
				deletes = append(deletes, clientv3.OpDelete(s.keys.events(sid), clientv3.WithRange(string(kvs[limit].Key)+"\x00")))
			}
		}
		if len(deletes) > 0 {
			if _, err := s.cli.Txn(ctx).Then(deletes...).Commit(); err != nil {
				return err
			}
		}
		for _, sid := range chunk {
			delete(s.untrimmed, sid)
		}
	}
	return nil
}

// flusher calls Flush every FlushInterval until Close. A failed flush
// keeps what it was writing, and the next one writes it.
func (s *Store) flusher() {
	defer s.done.Done()
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		err := s.Flush()
		switch {
		case err != nil && s.ctx.Err() == nil:
			s.flushErrors.Add(1)
			if !failing {
				s.log.Warn("flushing usage and events to etcd failed: they wait in memory, and the next flush tries again", "err", err, "every", s.opts.FlushInterval)
			}
			failing = true
		case err == nil && failing:
			s.log.Info("flushing usage and events to etcd works again")
			failing = false
		}
	}
}

// eventBuffer holds the events this node took and has not written yet,
// each with the key it will have in etcd.
type eventBuffer struct {
	mu    sync.Mutex
	limit int
	// pending have not been taken by a flush; inflight were, and are not
	// written yet. Per bin, oldest first, at most limit of each.
	pending, inflight map[string][]keyedEvent
	lastNanos         int64  // of the latest key made: keys never go back
	seq               uint64 // of the latest key made
}

type keyedEvent struct {
	key   string
	event store.Event
}

func (b *eventBuffer) init(limit int) {
	b.limit = limit
	b.pending, b.inflight = map[string][]keyedEvent{}, map[string][]keyedEvent{}
}

// add buffers an event of bin sid, keyed by key with the time and the
// sequence number of its taking.
func (b *eventBuffer) add(sid string, e store.Event, key func(nanos int64, seq uint64) string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending[sid] = appendBounded(b.pending[sid], b.limit, keyedEvent{b.next(key), e})
}

// nextKey returns a new event key made by key: later than every key
// made before it.
func (b *eventBuffer) nextKey(key func(nanos int64, seq uint64) string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next(key)
}

func (b *eventBuffer) next(key func(nanos int64, seq uint64) string) string {
	b.lastNanos = max(time.Now().UnixNano(), b.lastNanos)
	b.seq++
	return key(b.lastNanos, b.seq)
}

// appendBounded appends events to log, dropping its oldest beyond limit.
func appendBounded(log []keyedEvent, limit int, events ...keyedEvent) []keyedEvent {
	log = append(log, events...)
	if over := len(log) - limit; over > 0 {
		log = slices.Delete(log, 0, over)
	}
	return log
}

// snapshot returns the bin's buffered events, in flight or not.
func (b *eventBuffer) snapshot(sid string) []keyedEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append(slices.Clone(b.inflight[sid]), b.pending[sid]...)
}

// take moves the pending events in flight and returns every event in
// flight, by bin.
func (b *eventBuffer) take() map[string][]keyedEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sid, events := range b.pending {
		b.inflight[sid] = appendBounded(b.inflight[sid], b.limit, events...)
	}
	clear(b.pending)
	taken := make(map[string][]keyedEvent, len(b.inflight))
	for sid, events := range b.inflight {
		taken[sid] = slices.Clone(events)
	}
	return taken
}

// written drops the bin's events now in etcd.
func (b *eventBuffer) written(sid string, events []keyedEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	done := map[string]bool{}
	for _, e := range events {
		done[e.key] = true
	}
	left := slices.DeleteFunc(b.inflight[sid], func(e keyedEvent) bool { return done[e.key] })
	if len(left) == 0 {
		delete(b.inflight, sid)
	} else {
		b.inflight[sid] = left
	}
}

// discard forgets the buffered events of a deleted bin.
func (b *eventBuffer) discard(sid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pending, sid)
	delete(b.inflight, sid)
}

// pendingBins is how many bins have events waiting for the next flush.
func (b *eventBuffer) pendingBins() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}
