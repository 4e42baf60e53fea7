package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// storedUsage reads the flushed counters of a bin straight from the file:
// its slot in account_bins, then the slot in its block.
func storedUsage(t *testing.T, db *DB, sid string) usageRecord {
	t.Helper()
	var u usageRecord
	require.NoError(t, db.bolt.View(func(tx *bbolt.Tx) error {
		rec, err := findBin(tx, "", sid)
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		_, n, err := parseAccountBin(nil, tx.Bucket(bucketAccountBins).Get(seqKey(rec.AccountSID, rec.Seq)))
		if err != nil {
			return err
		}
		key := blockKey(n / blockSlots)
		block := tx.Bucket(bucketUsageBlocks).Get(key)
		if block == nil {
			return nil
		}
		if _, err := blockNumber(key, block); err != nil {
			return err
		}
		u, err = unmarshalUsage([]byte(sid), block[(n%blockSlots)*usageRecordSize:][:usageRecordSize])
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

// TestFlushWritesUsage: counts stay in memory until a flush writes them
// to the bin's slot in its block, and later counts add to them there.
func TestFlushWritesUsage(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "busy")
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 1000 {
		db.RecordRequest(b.SID, base.Add(time.Duration(i)*time.Second))
	}
	latest := base.Add(999 * time.Second)
	assert.Zero(t, storedUsage(t, db, b.SID).NumRequests, "nothing written yet")

	require.NoError(t, db.Flush())
	assert.Equal(t, usageRecord{NumRequests: 1000, DateLastAccessed: latest}, storedUsage(t, db, b.SID))
	db.RecordRequest(b.SID, base)
	require.NoError(t, db.Flush())
	assert.Equal(t, usageRecord{NumRequests: 1001, DateLastAccessed: latest}, storedUsage(t, db, b.SID))
}

// TestUnknownBinWritesNothing: a request or an event of a bin that does
// not exist leaves nothing in the file.
func TestUnknownBinWritesNothing(t *testing.T) {
	db := openTest(t)
	db.RecordRequest(unknownBin, time.Time{})
	db.AddEvent(unknownBin, Event{Code: "x"})
	require.NoError(t, db.Flush())
	assert.Equal(t, usageRecord{}, storedUsage(t, db, unknownBin))
	assert.Zero(t, storedEvents(t, db, unknownBin))
}

// TestEventsAcrossFlush plays the interleavings of events that the
// conformance suite's EventsWhileFlushing would only hope to hit: a
// reader takes its snapshot of the buffer, then a flush commits (or only
// starts), then the reader's transaction begins. (Usage counters need no
// such care: memory holds them all, and a read never adds the file's.)
func TestEventsAcrossFlush(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "racy")
	read := func(batches []*batch) []string {
		t.Helper()
		var events []Event
		require.NoError(t, db.bolt.View(func(tx *bbolt.Tx) error {
			events = db.buf.events(batches, flushedGeneration(tx), b.SID)
			return nil
		}))
		return codes(events)
	}

	db.AddEvent(b.SID, Event{Code: "one"})
	before := db.buf.snapshot()
	require.NoError(t, db.Flush())
	assert.Empty(t, read(before), "a snapshot older than the flush it reads past: the flushed event is on disk, not in the buffer")

	db.AddEvent(b.SID, Event{Code: "two"})
	before = db.buf.snapshot()
	db.flushMu.Lock()
	db.buf.take() // a flush takes the batch and has not committed yet
	assert.Equal(t, []string{"two"}, read(before), "a batch taken but not committed still counts")
	assert.Equal(t, []string{"two"}, read(db.buf.snapshot()), "also for a snapshot taken after")
	db.flushMu.Unlock()
}

// TestFailedFlushIsRetried takes the changed usage blocks and the batch of
// events as a flush would, and drops them uncommitted, as a failed write
// transaction does: they stay visible and the next flush writes them.
func TestFailedFlushIsRetried(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "retry")

	db.RecordRequest(b.SID, time.Time{})
	db.AddEvent(b.SID, Event{Code: "first"})
	db.flushMu.Lock()
	db.usageMu.Lock()
	blocks := db.usage.takeDirty() // a flush begins…
	taken := db.buf.take()
	db.usage.markDirty(blocks) // …and its transaction fails
	db.usageMu.Unlock()
	db.flushMu.Unlock()
	require.Len(t, blocks, 1)
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

// TestEventsTrimmedOnDisk: each flush leaves at most EventLimit events of
// a bin in the file.
func TestEventsTrimmedOnDisk(t *testing.T) {
	const limit = 5
	db := openTestWith(t, filepath.Join(t.TempDir(), "twimlbin.db"), Options{NoSync: true, FlushInterval: time.Hour, EventLimit: limit})
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "noisy")
	add := func(from, to int) {
		for i := from; i < to; i++ {
			db.AddEvent(b.SID, Event{Code: fmt.Sprintf("e%d", i), Message: "value cut"})
		}
	}

	add(0, 12)
	require.NoError(t, db.Flush())
	assert.Equal(t, limit, storedEvents(t, db, b.SID))
	add(12, 15)
	require.NoError(t, db.Flush())
	assert.Equal(t, limit, storedEvents(t, db, b.SID), "the log is trimmed on disk")
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

// TestUsageSlots follows the slots of bins across blocks, deletions and
// reopening: a slot given again starts from zero, in memory and on disk,
// and every bin keeps its own counts.
func TestUsageSlots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	db, err := Open(path, testOptions)
	require.NoError(t, err)
	acct, _ := newAccount(t, db)
	const n = blockSlots + 5 // two blocks
	bins := make([]Bin, n)
	for i := range bins {
		bins[i] = newBin(t, db, acct, fmt.Sprintf("bin %d", i))
		for range i {
			db.RecordRequest(bins[i].SID, time.Time{})
		}
	}
	require.NoError(t, db.Flush())

	// A deleted bin's slot goes to the next bin created, empty, whether
	// or not its counts were flushed.
	gone := bins[7]
	db.RecordRequest(gone.SID, time.Time{}) // not flushed
	kept := db.Counter(gone.SID)            // as a server keeps it between requests
	require.NoError(t, db.DeleteBin(acct, gone.SID, 0))
	db.RecordRequest(gone.SID, time.Time{}) // a request arriving late: not counted
	heir := newBin(t, db, acct, "heir")
	db.Count(kept, time.Time{}) // nor through the deleted bin's Counter, its slot now the heir's
	assert.Equal(t, usageRecord{}, storedUsage(t, db, heir.SID), "on disk, before any flush")
	db.RecordRequest(heir.SID, time.Time{})
	bins[7] = heir
	require.NoError(t, db.Close())

	db = openTestWith(t, path, testOptions)
	for i, b := range bins {
		want := int64(i)
		if b.SID == heir.SID {
			want = 1
		}
		got, err := db.Bin(acct, b.SID)
		require.NoError(t, err)
		assert.Equal(t, want, got.NumRequests, "bin %d after reopening", i)
		assert.Equal(t, want, storedUsage(t, db, b.SID).NumRequests, "bin %d on disk", i)
	}
	_, err = db.Bin(acct, gone.SID)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestTruncateText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"", 8, ""},
		{"12345678", 8, "12345678"},
		{"123456789", 8, "12345…"},
		{"ééééé", 8, "éé…"},  // é is 2 bytes, … is 3: never half a character
		{"aéééé", 8, "aéé…"}, // 1 + 4 + 3
		{"€€€€", 9, "€€…"},
	} {
		got := truncateText(tc.in, tc.max)
		assert.Equal(t, tc.want, got, "truncateText(%q, %d)", tc.in, tc.max)
		assert.LessOrEqual(t, len(got), tc.max)
		assert.True(t, utf8.ValidString(got), "%q", got)
	}
}
