package etcdstore

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

// fill writes accounts, bins with several revisions, usage and events into
// s, and returns the first account's SID and auth token and its bins.
func fill(t *testing.T, s store.Store) (string, string, []store.Bin) {
	t.Helper()
	acct, token, err := s.CreateAccount("owner")
	require.NoError(t, err)
	_, err = s.SetTwilioAuthToken(acct.SID, "twilio-token")
	require.NoError(t, err)
	_, err = s.EndSessions(acct.SID)
	require.NoError(t, err)
	other, _, err := s.CreateAccount("other")
	require.NoError(t, err)
	var bins []store.Bin
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for i := range 4 {
		b, err := s.CreateBin(acct.SID, store.BinInput{FriendlyName: fmt.Sprintf("bin %d", i), Template: "<Response/>", RenderPolicy: "lenient"})
		require.NoError(t, err)
		for j := range i {
			b, err = s.UpdateBin(acct.SID, b.SID, 0, store.BinInput{FriendlyName: fmt.Sprintf("bin %d.%d", i, j), Template: fmt.Sprintf("<Response><Say>%d</Say></Response>", j), RenderPolicy: "strict"})
			require.NoError(t, err)
		}
		for j := range i + 1 {
			s.RecordRequest(b.SID, at.Add(time.Duration(j)*time.Minute))
			s.AddEvent(b.SID, store.Event{Time: at.Add(time.Duration(j) * time.Second), Severity: "warning", Code: fmt.Sprint(j), Message: "m", Slot: "Name", Line: 1, Column: j + 1})
		}
		bins = append(bins, b)
	}
	_, err = s.CreateBin(other.SID, store.BinInput{FriendlyName: "theirs", Template: "<Response/>", RenderPolicy: "lenient"})
	require.NoError(t, err)
	require.NoError(t, s.Flush())
	return acct.SID, token, bins
}

// TestCopyFromFileAndBack: a bbolt file copied into etcd reads the same
// (store.Verify), serves its accounts' tokens and bins in their order, and
// copies back into a file that reads the same again; a second run brings
// the copy up to date, a deleted bin included.
func TestCopyFromFileAndBack(t *testing.T) {
	file, err := store.Open(filepath.Join(t.TempDir(), "source.db"), store.Options{NoSync: true, FlushInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = file.Close() })
	acct, token, bins := fill(t, file)

	s, endpoints, prefix := shared(t, testOptions)
	counts, err := store.Copy(s, file)
	require.NoError(t, err)
	assert.Equal(t, store.CopyCounts{SessionKey: true, Accounts: 2, Bins: 5, Revisions: 1 + 2 + 3 + 4 + 1, Events: 1 + 2 + 3 + 4}, counts)
	require.NoError(t, store.Verify(file, s))

	_, err = s.Authenticate(acct, token)
	assert.NoError(t, err, "the account's token works in etcd")
	page, err := s.ListBins(acct, store.ListQuery{Templates: true})
	require.NoError(t, err)
	want, err := file.ListBins(acct, store.ListQuery{Templates: true})
	require.NoError(t, err)
	assert.Equal(t, want.Bins, page.Bins, "the same bins, in the same order")
	key, err := file.SessionKey()
	require.NoError(t, err)
	got, err := s.SessionKey()
	require.NoError(t, err)
	assert.Equal(t, key, got)

	// What a second node loads reads the same too.
	second := node(t, endpoints, prefix, testOptions)
	require.NoError(t, store.Verify(file, second))

	// Again, after the source changed.
	require.NoError(t, file.DeleteBin(acct, bins[1].SID, 0))
	_, err = file.UpdateBin(acct, bins[2].SID, 0, store.BinInput{FriendlyName: "changed", Template: "<Response/>", RenderPolicy: "lenient"})
	require.NoError(t, err)
	_, err = store.Copy(s, file)
	require.NoError(t, err)
	require.NoError(t, store.Verify(file, s))
	_, err = s.BinBySID(bins[1].SID)
	assert.ErrorIs(t, err, store.ErrNotFound, "a bin the source no longer holds goes")

	back, err := store.Open(filepath.Join(t.TempDir(), "back.db"), store.Options{NoSync: true, FlushInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = back.Close() })
	_, err = store.Copy(back, s)
	require.NoError(t, err)
	require.NoError(t, store.Verify(s, back))
	require.NoError(t, store.Verify(file, back))
}

// TestCopyRefusesForeignData: a copy into a prefix holding another
// installation's accounts writes nothing.
func TestCopyRefusesForeignData(t *testing.T) {
	file, err := store.Open(filepath.Join(t.TempDir(), "source.db"), store.Options{NoSync: true, FlushInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = file.Close() })
	fill(t, file)
	s, _, _ := shared(t, testOptions)
	newAccount(t, s)
	_, err = store.Copy(s, file)
	assert.ErrorIs(t, err, store.ErrForeignData)
	n, err := s.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
