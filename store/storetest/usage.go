package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

// testRecordRequestConcurrent: requests counted from many goroutines, by
// RecordRequest and through a Counter kept between requests, all show at
// once and survive a flush and a restart; DateLastAccessed is the latest
// request's time, never moved back by an older one.
func testRecordRequestConcurrent(t *testing.T, e *env) {
	s := e.open(options)
	acct, _ := newAccount(t, s)
	b := newBin(t, s, acct, "busy")
	other := newBin(t, s, acct, "quiet")
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

	const goroutines, each = 8, 125
	counter := s.Counter(b.SID)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				at := base.Add(time.Duration(g*each+i) * time.Second)
				if g%2 == 0 {
					s.RecordRequest(b.SID, at)
				} else {
					s.Count(counter, at)
				}
			}
		})
	}
	wg.Wait()
	latest := base.Add((goroutines*each - 1) * time.Second)

	got, err := s.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), got.NumRequests, "before the flush")
	assert.Equal(t, latest, got.DateLastAccessed)

	require.NoError(t, s.Flush())
	for name, read := range map[string]func() (store.Bin, error){
		"Bin":      func() (store.Bin, error) { return s.Bin(acct, b.SID) },
		"BinBySID": func() (store.Bin, error) { return s.BinBySID(b.SID) },
	} {
		got, err := read()
		require.NoError(t, err)
		assert.Equal(t, int64(1000), got.NumRequests, "%s after the flush", name)
		assert.Equal(t, latest, got.DateLastAccessed, name)
	}
	quiet, err := s.Bin(acct, other.SID)
	require.NoError(t, err)
	assert.Zero(t, quiet.NumRequests)
	assert.True(t, quiet.DateLastAccessed.IsZero())

	// Later counts add to the flushed ones; an older time does not move
	// DateLastAccessed back.
	s.RecordRequest(b.SID, base)
	got, err = s.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(1001), got.NumRequests)
	assert.Equal(t, latest, got.DateLastAccessed)
	require.NoError(t, s.Flush())

	s = e.reopen(s, options)
	got, err = s.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(1001), got.NumRequests, "after a restart")
	assert.Equal(t, latest, got.DateLastAccessed, "after a restart")
}

// testRecordRequestUnknownBin: a request or an event of a bin that does
// not exist, and a request through the zero Counter, count nowhere and do
// not fail the flush.
func testRecordRequestUnknownBin(t *testing.T, e *env) {
	s := e.open(options)
	acct, _ := newAccount(t, s)
	b := newBin(t, s, acct, "bystander")
	s.RecordRequest(unknownBin, time.Time{})
	s.Count(s.Counter(unknownBin), time.Time{})
	s.Count(store.Counter{}, time.Time{})
	s.AddEvent(unknownBin, store.Event{Code: "x"})
	require.NoError(t, s.Flush())

	_, err := s.BinBySID(unknownBin)
	assert.ErrorIs(t, err, store.ErrNotFound, "counting made no bin")
	_, err = s.Events(acct, unknownBin, 0)
	assert.ErrorIs(t, err, store.ErrNotFound)
	got, err := s.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Zero(t, got.NumRequests, "another bin's counter")
	events, err := s.Events(acct, b.SID, 0)
	require.NoError(t, err)
	assert.Empty(t, events, "another bin's log")
}

// testUsageWhileFlushing reads counters while requests are recorded and
// flushes run: a reader never sees a count go back, nor one above what
// was recorded (a batch counted both buffered and flushed), and nothing
// is lost.
func testUsageWhileFlushing(t *testing.T, e *env) {
	s := e.open(options)
	acct, _ := newAccount(t, s)
	b := newBin(t, s, acct, "hot")

	var recorded atomic.Int64
	var writers, others sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		writers.Go(func() {
			for range 2000 {
				recorded.Add(1) // before, so recorded is never below what a reader can see
				s.RecordRequest(b.SID, time.Time{})
			}
		})
	}
	others.Go(func() { flushUntil(t, s, stop) })
	for range 2 {
		others.Go(func() {
			var last int64
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := s.BinBySID(b.SID)
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

	got, err := s.BinBySID(b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(8000), got.NumRequests)
	require.NoError(t, s.Flush())
	s = e.reopen(s, options)
	got, err = s.BinBySID(b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(8000), got.NumRequests, "after a restart")
}

// testCounterOfDeletedBin: once a bin is deleted, neither a request to
// its SID nor its Counter, kept by a server between requests, counts
// anything, not even for a bin created after it (which may take the
// deleted bin's place in the counters); the new bin starts from zero.
func testCounterOfDeletedBin(t *testing.T, e *env) {
	s := e.open(options)
	acct, _ := newAccount(t, s)
	neighbour := newBin(t, s, acct, "neighbour")
	gone := newBin(t, s, acct, "gone")
	for range 3 {
		s.RecordRequest(neighbour.SID, time.Time{})
		s.RecordRequest(gone.SID, time.Time{})
	}
	require.NoError(t, s.Flush())

	s.RecordRequest(gone.SID, time.Time{}) // not flushed
	kept := s.Counter(gone.SID)            // as a server keeps it between requests
	require.NoError(t, s.DeleteBin(acct, gone.SID, 0))
	s.RecordRequest(gone.SID, time.Time{}) // a request arriving late: not counted
	s.Count(kept, time.Time{})             // nor through the deleted bin's Counter
	heir := newBin(t, s, acct, "heir")
	s.Count(kept, time.Time{}) // nor once another bin is created
	got, err := s.Bin(acct, heir.SID)
	require.NoError(t, err)
	assert.Zero(t, got.NumRequests, "the new bin counts from zero")
	assert.True(t, got.DateLastAccessed.IsZero(), "the new bin was never requested")

	s.Count(s.Counter(heir.SID), time.Time{})
	s = e.reopen(s, options)
	for sid, want := range map[string]int64{neighbour.SID: 3, heir.SID: 1} {
		got, err := s.Bin(acct, sid)
		require.NoError(t, err)
		assert.Equal(t, want, got.NumRequests, "%s after a restart", sid)
	}
	_, err = s.Bin(acct, gone.SID)
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// testCountWhileBinsComeAndGo counts requests to bins while others are
// created and deleted and flushes run: each bin ends with exactly its own
// requests, however its place in the counters was used before.
func testCountWhileBinsComeAndGo(t *testing.T, e *env) {
	s := e.open(options)
	acct, _ := newAccount(t, s)
	const steady, each = 4, 500
	kept := make([]store.Bin, steady)
	for i := range kept {
		kept[i] = newBin(t, s, acct, "kept")
	}
	var churn, others sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		churn.Go(func() {
			for range 30 {
				b, err := s.CreateBin(acct, store.BinInput{FriendlyName: "churn", Template: "<Response><Say>churn</Say></Response>", RenderPolicy: "lenient"})
				if !assert.NoError(t, err) {
					return
				}
				for range 10 {
					s.RecordRequest(b.SID, time.Time{})
				}
				got, err := s.Bin(acct, b.SID)
				if assert.NoError(t, err) {
					assert.Equal(t, int64(10), got.NumRequests, "a new bin counts only its own requests")
				}
				assert.NoError(t, s.DeleteBin(acct, b.SID, 0))
			}
		})
	}
	others.Go(func() { flushUntil(t, s, stop) })
	var counting sync.WaitGroup
	for _, b := range kept {
		counting.Go(func() {
			for range each {
				s.RecordRequest(b.SID, time.Time{})
			}
		})
	}
	counting.Wait()
	churn.Wait()
	close(stop)
	others.Wait()

	require.NoError(t, s.Flush())
	for _, b := range kept {
		got, err := s.Bin(acct, b.SID)
		require.NoError(t, err)
		assert.Equal(t, int64(each), got.NumRequests)
	}
	s = e.reopen(s, options)
	for _, b := range kept {
		got, err := s.Bin(acct, b.SID)
		require.NoError(t, err)
		assert.Equal(t, int64(each), got.NumRequests, "after a restart")
	}
	page, err := s.ListBins(acct, store.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, page.Bins, steady, "the churned bins are gone")
}

// testEvents: a bin's log is bounded by EventLimit, newest first, the
// same whether its events are buffered, flushed or both.
func testEvents(t *testing.T, e *env) {
	const limit = 5
	opts := options
	opts.EventLimit = limit
	s := e.open(opts)
	alice, _ := newAccount(t, s)
	bob, _ := newAccount(t, s)
	b := newBin(t, s, alice, "noisy")
	neighbour := newBin(t, s, alice, "neighbour")
	base := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))

	add := func(from, to int) {
		for i := from; i < to; i++ {
			s.AddEvent(b.SID, store.Event{
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

	events, err := s.Events(alice, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, []store.Event{}, events, "empty, not nil")

	add(0, 12)
	events, err = s.Events(alice, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, want(7, 12), codes(events), "buffered, bounded, newest first")
	assert.Equal(t, store.Event{
		Time: base.Add(11 * time.Second).UTC(), Severity: "warning", Code: "e11",
		Message: "value cut", Slot: "Say", Line: 1, Column: 11,
	}, events[0], "every field kept, time in UTC")

	require.NoError(t, s.Flush())
	events, err = s.Events(alice, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, want(7, 12), codes(events), "flushed")

	add(12, 15)
	events, err = s.Events(alice, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, want(10, 15), codes(events), "buffered before flushed")
	events, err = s.Events(alice, b.SID, 2)
	require.NoError(t, err)
	assert.Equal(t, want(13, 15), codes(events), "limit")
	events, err = s.Events(alice, b.SID, 4)
	require.NoError(t, err)
	assert.Equal(t, want(11, 15), codes(events), "limit reaching into the flushed ones")

	require.NoError(t, s.Flush())
	events, err = s.Events(alice, b.SID, 100)
	require.NoError(t, err)
	assert.Equal(t, want(10, 15), codes(events), "a limit above EventLimit")

	events, err = s.Events(alice, neighbour.SID, 0)
	require.NoError(t, err)
	assert.Empty(t, events, "another bin's log")
	_, err = s.Events(bob, b.SID, 0)
	assert.ErrorIs(t, err, store.ErrNotFound, "another account's bin")
	_, err = s.Events(alice, unknownBin, 0)
	assert.ErrorIs(t, err, store.ErrNotFound)

	// An event without a time is stamped.
	s.AddEvent(neighbour.SID, store.Event{Code: "now"})
	events, err = s.Events(alice, neighbour.SID, 0)
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.WithinDuration(t, time.Now(), events[0].Time, time.Minute)
}

// testEventsAreBoundedInBytes: anyone can make a bin log an event (a
// request without a valid signature does), so each text field of an
// event is cut to its bound, keeping its start and showing the cut.
func testEventsAreBoundedInBytes(t *testing.T, e *env) {
	s := e.open(options)
	acct, _ := newAccount(t, s)
	b := newBin(t, s, acct, "noisy")

	huge := strings.Repeat("x", 64<<10)
	for i := range 150 {
		s.AddEvent(b.SID, store.Event{
			Severity: "error" + huge, Code: fmt.Sprint(i) + huge,
			Message: "refused for https://bins.example.com/twiml/" + b.SID + "?q=" + huge, Slot: huge,
		})
	}
	require.NoError(t, s.Flush())
	events, err := s.Events(acct, b.SID, 0)
	require.NoError(t, err)
	require.Len(t, events, store.DefaultEventLimit)
	for _, e := range events {
		assert.Len(t, e.Message, store.MaxEventMessageBytes)
		assert.True(t, strings.HasPrefix(e.Message, "refused for https://bins.example.com/twiml/"+b.SID+"?q=xxx"), "the start is kept")
		assert.True(t, strings.HasSuffix(e.Message, "…"), "the cut shows")
		assert.LessOrEqual(t, len(e.Slot), store.MaxEventSlotBytes)
		assert.LessOrEqual(t, len(e.Code), store.MaxEventCodeBytes)
		assert.LessOrEqual(t, len(e.Severity), store.MaxEventSeverityBytes)
	}
}

// testEventsWhileFlushing reads a bin's log while events are added and
// flushes run: every read is the events added so far, newest first, each
// once and none missing, whether a flush had written them, was writing
// them, or had not begun.
func testEventsWhileFlushing(t *testing.T, e *env) {
	const total = 60
	opts := options
	opts.EventLimit = total // the log keeps them all
	s := e.open(opts)
	acct, _ := newAccount(t, s)
	b := newBin(t, s, acct, "busy")

	var added atomic.Int64 // events added so far, counted after AddEvent returns
	var adding, others sync.WaitGroup
	stop := make(chan struct{})
	adding.Go(func() {
		for i := range total {
			s.AddEvent(b.SID, store.Event{Code: fmt.Sprint(i)})
			added.Store(int64(i + 1))
		}
	})
	others.Go(func() { flushUntil(t, s, stop) })
	for range 2 {
		others.Go(func() {
			last := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := int(added.Load())
				events, err := s.Events(acct, b.SID, 0)
				if !assert.NoError(t, err) {
					return
				}
				got := codes(events)
				if want := newestFirst(len(got)); len(got) < max(floor, last) || !slices.Equal(got, want) {
					assert.Failf(t, "inconsistent log", "read %q with %d events added, after a read of %d: want every event added, newest first, each once", got, floor, last)
					return
				}
				last = len(got)
			}
		})
	}
	adding.Wait()
	close(stop)
	others.Wait()

	require.NoError(t, s.Flush())
	events, err := s.Events(acct, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, newestFirst(total), codes(events))
}

// newestFirst are the codes of the first n events of
// testEventsWhileFlushing, newest first.
func newestFirst(n int) []string {
	var out []string
	for i := n - 1; i >= 0; i-- {
		out = append(out, fmt.Sprint(i))
	}
	return out
}
