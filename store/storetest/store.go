package storetest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

// testReopenKeepsEverything: accounts, bins, revisions, usage counters
// and events are all there after a restart, and counting goes on from the
// counts kept.
func testReopenKeepsEverything(t *testing.T, e *env) {
	s := e.open(options)

	acct, token, err := s.CreateAccount("keeper")
	require.NoError(t, err)
	acct, err = s.SetTwilioAuthToken(acct.SID, "twilio-secret")
	require.NoError(t, err)
	first := newBin(t, s, acct.SID, "first")
	second := newBin(t, s, acct.SID, "second")
	second, err = s.UpdateBin(acct.SID, second.SID, second.Revision, store.BinInput{FriendlyName: "second v2", Template: "<Response/>", RenderPolicy: "strict"})
	require.NoError(t, err)
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for range 3 {
		s.RecordRequest(first.SID, at)
	}
	s.AddEvent(first.SID, store.Event{Time: at, Severity: "warning", Code: "W1", Message: "cut", Slot: "Say", Line: 1, Column: 16})
	wantFirst, err := s.Bin(acct.SID, first.SID)
	require.NoError(t, err)
	wantRevisions, err := s.Revisions(acct.SID, second.SID)
	require.NoError(t, err)
	wantEvents, err := s.Events(acct.SID, first.SID, 0)
	require.NoError(t, err)
	acct, err = s.Account(acct.SID) // with its bins counted
	require.NoError(t, err)

	// Close writes the buffered counters and events.
	s = e.reopen(s, options)
	got, err := s.Authenticate(acct.SID, token)
	require.NoError(t, err)
	assert.Equal(t, acct, got)
	tok, err := s.TwilioAuthToken(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, "twilio-secret", tok)
	n, err := s.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	gotFirst, err := s.Bin(acct.SID, first.SID)
	require.NoError(t, err)
	assert.Equal(t, wantFirst, gotFirst)
	assert.Equal(t, int64(3), gotFirst.NumRequests)
	gotSecond, err := s.Bin(acct.SID, second.SID)
	require.NoError(t, err)
	assert.Equal(t, second, gotSecond)
	gotRevisions, err := s.Revisions(acct.SID, second.SID)
	require.NoError(t, err)
	assert.Equal(t, wantRevisions, gotRevisions)
	gotEvents, err := s.Events(acct.SID, first.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, wantEvents, gotEvents)
	page, err := s.ListBins(acct.SID, store.ListQuery{Templates: true})
	require.NoError(t, err)
	assert.Equal(t, []store.Bin{gotFirst, gotSecond}, page.Bins)
	stats := s.Stats()
	stats.FileSize = 0 // the backend's own measure
	assert.Equal(t, store.Stats{Accounts: 1, Bins: 2}, stats, "nothing pending, nothing failed")

	// New counts add to the ones kept.
	s.RecordRequest(first.SID, at)
	gotFirst, err = s.Bin(acct.SID, first.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(4), gotFirst.NumRequests)
	require.NoError(t, s.Flush())
	gotFirst, err = s.Bin(acct.SID, first.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(4), gotFirst.NumRequests)
}

// testBackup: Backup writes, while the store stays in use, a bbolt file
// that store.Open reads, holding what was saved before it.
func testBackup(t *testing.T, e *env) {
	s := e.open(options)
	acct, _ := newAccount(t, s)
	var bins []store.Bin
	for _, name := range []string{"a", "b", "c"} {
		bins = append(bins, newBin(t, s, acct, name))
	}

	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	require.NoError(t, err)
	n, err := s.Backup(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fi.Size(), n, "bytes reported")

	// Written while the source stays open and usable.
	newBin(t, s, acct, "after the backup")

	backup, err := store.Open(path, options)
	require.NoError(t, err, "the backup opens as a bbolt database")
	t.Cleanup(func() {
		assert.NoError(t, backup.Check(), "consistency check of the backup")
		assert.NoError(t, backup.Close())
	})
	for _, want := range bins {
		got, err := backup.BinBySID(want.SID)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	assert.Equal(t, 3, backup.Stats().Bins)
}

// testStats: the figures for metrics count accounts and bins, and the
// bins with events waiting for a flush.
func testStats(t *testing.T, e *env) {
	s := e.open(options)
	a, _ := newAccount(t, s)
	b, _ := newAccount(t, s)
	newBin(t, s, a, "1")
	bin := newBin(t, s, b, "2")
	newBin(t, s, b, "3")
	s.RecordRequest(bin.SID, time.Time{})

	st := s.Stats()
	assert.Equal(t, 2, st.Accounts)
	assert.Equal(t, 3, st.Bins)
	assert.Zero(t, st.PendingEventBins)
	s.AddEvent(bin.SID, store.Event{Code: "x"})
	assert.Equal(t, 1, s.Stats().PendingEventBins)

	require.NoError(t, s.DeleteBin(b, bin.SID, 0))
	st = s.Stats()
	assert.Equal(t, 2, st.Bins)
	assert.Equal(t, 0, st.PendingEventBins, "a deleted bin's events are discarded")
	require.NoError(t, s.Flush())
	assert.Zero(t, s.Stats().PendingUsageBlocks)
}

func testCloseTwice(t *testing.T, e *env) {
	s := e.open(options)
	e.close(s)
	assert.NoError(t, s.Close(), "a second Close")
}
