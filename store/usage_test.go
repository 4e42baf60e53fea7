package store

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// storedUsage reads the flushed counters of a bin straight from the file.
func storedUsage(t *testing.T, db *DB, sid string) usageRecord {
	t.Helper()
	var u usageRecord
	require.NoError(t, db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		u, err = readUsage(tx, sid)
		return err
	}))
	return u
}

// storedEvents counts the flushed events of a bin.
func storedEvents(t *testing.T, db *DB, sid string) int {
	t.Helper()
	n := 0
	require.NoError(t, db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		prefix := []byte(sid)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		return nil
	}))
	return n
}

func TestRecordRequestConcurrent(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "busy")
	other := newBin(t, db, acct, "quiet")
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

	const goroutines, each = 8, 125
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				db.RecordRequest(b.SID, base.Add(time.Duration(g*each+i)*time.Second))
			}
		})
	}
	wg.Wait()
	latest := base.Add((goroutines*each - 1) * time.Second)

	got, err := db.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), got.NumRequests, "before the flush")
	assert.Equal(t, latest, got.DateLastAccessed)
	assert.Zero(t, storedUsage(t, db, b.SID).NumRequests, "nothing written yet")

	require.NoError(t, db.Flush())
	assert.Equal(t, usageRecord{NumRequests: 1000, DateLastAccessed: latest}, storedUsage(t, db, b.SID))
	for name, read := range map[string]func() (Bin, error){
		"Bin":      func() (Bin, error) { return db.Bin(acct, b.SID) },
		"BinBySID": func() (Bin, error) { return db.BinBySID(b.SID) },
	} {
		got, err := read()
		require.NoError(t, err)
		assert.Equal(t, int64(1000), got.NumRequests, "%s after the flush", name)
		assert.Equal(t, latest, got.DateLastAccessed, name)
	}
	quiet, err := db.Bin(acct, other.SID)
	require.NoError(t, err)
	assert.Zero(t, quiet.NumRequests)
	assert.True(t, quiet.DateLastAccessed.IsZero())

	// Later counts add to the flushed ones; an older time does not move
	// DateLastAccessed back.
	db.RecordRequest(b.SID, base)
	got, err = db.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(1001), got.NumRequests)
	assert.Equal(t, latest, got.DateLastAccessed)
	require.NoError(t, db.Flush())
	assert.Equal(t, usageRecord{NumRequests: 1001, DateLastAccessed: latest}, storedUsage(t, db, b.SID))
}

func TestRecordRequestUnknownBin(t *testing.T) {
	db := openTest(t)
	db.RecordRequest(unknownBin, time.Time{})
	db.AddEvent(unknownBin, Event{Code: "x"})
	require.NoError(t, db.Flush())
	assert.Equal(t, usageRecord{}, storedUsage(t, db, unknownBin))
	assert.Zero(t, storedEvents(t, db, unknownBin))
}

// TestUsageWhileFlushing reads counters while requests are recorded and
// flushes run: a reader never sees a count go back, nor one above what was
// recorded (a batch counted both buffered and flushed), and nothing is lost.
func TestUsageWhileFlushing(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "hot")

	var recorded atomic.Int64
	var writers, others sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		writers.Go(func() {
			for range 2000 {
				recorded.Add(1) // before, so recorded is never below what a reader can see
				db.RecordRequest(b.SID, time.Time{})
			}
		})
	}
	others.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				assert.NoError(t, db.Flush())
			}
		}
	})
	for range 2 {
		others.Go(func() {
			var last int64
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := db.BinBySID(b.SID)
				if !assert.NoError(t, err) {
					return
				}
				ceiling := recorded.Load()
				if got.NumRequests < last || got.NumRequests > ceiling {
					assert.Failf(t, "inconsistent count", "read %d after %d, with %d recorded", got.NumRequests, last, ceiling)
					return
				}
				last = got.NumRequests
			}
		})
	}
	writers.Wait()
	close(stop)
	others.Wait()

	got, err := db.BinBySID(b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(8000), got.NumRequests)
	require.NoError(t, db.Flush())
	assert.Equal(t, int64(8000), storedUsage(t, db, b.SID).NumRequests)
}

// TestReadAcrossFlush plays the interleavings TestUsageWhileFlushing can
// only hope to hit: a reader takes its snapshot of the buffer, then a flush
// commits (or only starts), then the reader's transaction begins.
func TestReadAcrossFlush(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "racy")
	read := func(batches []*batch) (int64, []string) {
		t.Helper()
		var u usageRecord
		var events []Event
		require.NoError(t, db.bolt.View(func(tx *bbolt.Tx) error {
			var err error
			u, err = readUsage(tx, b.SID)
			u = db.buf.addUsage(batches, flushedGeneration(tx), b.SID, u)
			events = db.buf.events(batches, flushedGeneration(tx), b.SID)
			return err
		}))
		return u.NumRequests, codes(events)
	}

	db.RecordRequest(b.SID, time.Time{})
	db.AddEvent(b.SID, Event{Code: "one"})
	before := db.buf.snapshot()
	require.NoError(t, db.Flush())
	n, events := read(before)
	assert.Equal(t, int64(1), n, "a snapshot older than the flush it reads past: nothing twice")
	assert.Empty(t, events, "the flushed event is on disk, not in the buffer")

	db.RecordRequest(b.SID, time.Time{})
	before = db.buf.snapshot()
	db.flushMu.Lock()
	db.buf.take() // a flush takes the batch and has not committed yet
	n, _ = read(before)
	assert.Equal(t, int64(2), n, "a batch taken but not committed still counts")
	n, _ = read(db.buf.snapshot())
	assert.Equal(t, int64(2), n, "also for a snapshot taken after")
	db.flushMu.Unlock()
}

// TestFailedFlushIsRetried takes a batch as a flush would and drops it
// uncommitted, as a failed write transaction does: the batch stays visible
// and the next flush writes it.
func TestFailedFlushIsRetried(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "retry")

	db.RecordRequest(b.SID, time.Time{})
	db.AddEvent(b.SID, Event{Code: "first"})
	db.flushMu.Lock()
	taken := db.buf.take() // a flush begins…
	db.flushMu.Unlock()    // …and its transaction fails
	require.Len(t, taken, 1)

	db.RecordRequest(b.SID, time.Time{})
	db.AddEvent(b.SID, Event{Code: "second"})
	got, err := db.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.NumRequests)
	events, err := db.Events(acct, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"second", "first"}, codes(events))

	require.NoError(t, db.Flush())
	assert.Equal(t, int64(2), storedUsage(t, db, b.SID).NumRequests)
	assert.Equal(t, 2, storedEvents(t, db, b.SID))
	events, err = db.Events(acct, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"second", "first"}, codes(events), "nothing twice")
}

func codes(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Code)
	}
	return out
}

func TestEvents(t *testing.T) {
	const limit = 5
	db := openTestWith(t, filepath.Join(t.TempDir(), "twimlbin.db"), Options{NoSync: true, FlushInterval: time.Hour, EventLimit: limit})
	alice, _ := newAccount(t, db)
	bob, _ := newAccount(t, db)
	b := newBin(t, db, alice, "noisy")
	neighbour := newBin(t, db, alice, "neighbour")
	base := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))

	add := func(from, to int) {
		for i := from; i < to; i++ {
			db.AddEvent(b.SID, Event{
				Time: base.Add(time.Duration(i) * time.Second), Severity: "warning",
				Code: fmt.Sprintf("e%d", i), Message: "value cut", Slot: "Say", Line: 1, Column: i,
			})
		}
	}
	want := func(from, to int) []string { // newest first
		var out []string
		for i := to - 1; i >= from; i-- {
			out = append(out, fmt.Sprintf("e%d", i))
		}
		return out
	}

	events, err := db.Events(alice, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, []Event{}, events, "empty, not nil")

	add(0, 12)
	events, err = db.Events(alice, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, want(7, 12), codes(events), "buffered, bounded, newest first")
	assert.Equal(t, Event{
		Time: base.Add(11 * time.Second).UTC(), Severity: "warning", Code: "e11",
		Message: "value cut", Slot: "Say", Line: 1, Column: 11,
	}, events[0], "every field kept, time in UTC")

	require.NoError(t, db.Flush())
	events, err = db.Events(alice, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, want(7, 12), codes(events), "flushed")
	assert.Equal(t, limit, storedEvents(t, db, b.SID))

	add(12, 15)
	events, err = db.Events(alice, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, want(10, 15), codes(events), "buffered before flushed")
	events, err = db.Events(alice, b.SID, 2)
	require.NoError(t, err)
	assert.Equal(t, want(13, 15), codes(events), "limit")
	events, err = db.Events(alice, b.SID, 4)
	require.NoError(t, err)
	assert.Equal(t, want(11, 15), codes(events), "limit reaching into the flushed ones")

	require.NoError(t, db.Flush())
	assert.Equal(t, limit, storedEvents(t, db, b.SID), "the log is trimmed on disk")
	events, err = db.Events(alice, b.SID, 100)
	require.NoError(t, err)
	assert.Equal(t, want(10, 15), codes(events), "a limit above EventLimit")

	events, err = db.Events(alice, neighbour.SID, 0)
	require.NoError(t, err)
	assert.Empty(t, events, "another bin's log")
	_, err = db.Events(bob, b.SID, 0)
	assert.ErrorIs(t, err, ErrNotFound, "another account's bin")
	_, err = db.Events(alice, unknownBin, 0)
	assert.ErrorIs(t, err, ErrNotFound)

	// An event without a time is stamped.
	db.AddEvent(neighbour.SID, Event{Code: "now"})
	events, err = db.Events(alice, neighbour.SID, 0)
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.WithinDuration(t, time.Now(), events[0].Time, time.Minute)
}

func TestBackgroundFlush(t *testing.T) {
	db := openTestWith(t, filepath.Join(t.TempDir(), "twimlbin.db"), Options{NoSync: true, FlushInterval: time.Millisecond})
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "ticking")
	db.RecordRequest(b.SID, time.Time{})

	// Wait for the flusher by polling the file, not by sleeping a guess.
	require.Eventually(t, func() bool {
		return storedUsage(t, db, b.SID).NumRequests == 1
	}, 10*time.Second, time.Millisecond)
	assert.Zero(t, db.Stats().FlushErrors)
}

func TestUsageRecordEncoding(t *testing.T) {
	for _, u := range []usageRecord{
		{},
		{NumRequests: 1, DateLastAccessed: time.Date(2026, 11, 23, 9, 0, 0, 1, time.UTC)},
		{NumRequests: 1 << 62, DateLastAccessed: time.Date(1970, 1, 1, 0, 0, 0, 1, time.UTC)},
	} {
		data := u.marshal()
		assert.Len(t, data, usageRecordSize)
		got, err := unmarshalUsage([]byte("EH1"), data)
		require.NoError(t, err)
		assert.Equal(t, u, got)
	}
	_, err := unmarshalUsage([]byte("EH1"), []byte(`{"num_requests":1}`))
	require.Error(t, err, "a record of the wrong size")
	assert.Contains(t, err.Error(), `"EH1"`)
}
