package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// copySourceOptions keep few revisions, so that the filled store has
// pruned some.
var copySourceOptions = Options{NoSync: true, FlushInterval: time.Hour, RevisionsKept: 3}

// filledStore is a store filled through the ordinary methods, and what a
// copy of it must show.
type filledStore struct {
	db     *DB
	tokens map[string]string   // auth token by account SID
	bins   map[string][]string // bin SIDs by account SID, in creation order
	// prunedSID's revision prunedRev is older than those kept.
	prunedSID, prunedAccount string
	prunedRev                int
}

// fillStore fills db with three accounts (one without bins, one with a
// Twilio auth token and ended sessions, one with a rotated auth token),
// bins created in turns across accounts, one deleted and its slot used
// again, revisions beyond those kept, restored revisions, usage counters
// and events both flushed and still buffered.
func fillStore(t *testing.T, db *DB) filledStore {
	t.Helper()
	f := filledStore{db: db, tokens: map[string]string{}, bins: map[string][]string{}}
	account := func(name string) string {
		acct, token, err := db.CreateAccount(name)
		require.NoError(t, err)
		f.tokens[acct.SID] = token
		return acct.SID
	}
	a, b := account("Alpha"), account("Beta")
	account("Gamma, without bins")
	_, err := db.SetTwilioAuthToken(a, "twilio-secret")
	require.NoError(t, err)
	_, err = db.EndSessions(a)
	require.NoError(t, err)
	f.tokens[b], err = db.RotateAuthToken(b)
	require.NoError(t, err)

	bin := func(accountSID, name string) string {
		sid := newBin(t, db, accountSID, name).SID
		f.bins[accountSID] = append(f.bins[accountSID], sid)
		return sid
	}
	a1, b1, a2, b2, a3 := bin(a, "a1"), bin(b, "b1"), bin(a, "a2"), bin(b, "b2"), bin(a, "a3")
	for i := range 5 {
		_, err := db.UpdateBin(a, a1, 0, BinInput{FriendlyName: "a1", Template: templateOf("a1", 100*(i+1)), RenderPolicy: "strict"})
		require.NoError(t, err)
	}
	f.prunedSID, f.prunedAccount, f.prunedRev = a1, a, 2
	_, err = db.UpdateBin(b, b1, 0, BinInput{FriendlyName: "b1 renamed", Template: "<Response><Hangup/></Response>", RenderPolicy: "lenient"})
	require.NoError(t, err)
	_, err = db.RestoreRevision(b, b1, 1, 0)
	require.NoError(t, err)
	require.NoError(t, db.DeleteBin(a, a2, 0))
	f.bins[a] = []string{a1, a3}
	bin(a, "a4") // takes the deleted bin's usage slot

	// Flushed usage and events, then more of both still buffered.
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for range 3 {
		db.RecordRequest(a1, at)
	}
	db.RecordRequest(b1, at.Add(time.Minute))
	db.AddEvent(a1, Event{Time: at, Severity: "warning", Code: "W1", Message: "cut", Slot: "Say", Line: 1, Column: 16})
	db.AddEvent(a1, Event{Time: at.Add(time.Second), Severity: "error", Code: "E2", Message: "missing"})
	require.NoError(t, db.Flush())
	db.RecordRequest(a3, at.Add(time.Hour))
	db.RecordRequest(a1, at.Add(time.Hour))
	db.AddEvent(a1, Event{Time: at.Add(time.Hour), Severity: "warning", Code: "W3"})
	db.AddEvent(b2, Event{Time: at.Add(time.Hour), Severity: "error", Code: "E4", Line: 2})
	return f
}

// checkCopy checks through the ordinary methods that dst shows what the
// filled store src shows.
func checkCopy(t *testing.T, dst *DB, src filledStore) {
	t.Helper()
	srcKey, err := src.db.SessionKey()
	require.NoError(t, err)
	dstKey, err := dst.SessionKey()
	require.NoError(t, err)
	assert.Equal(t, srcKey, dstKey, "session key")

	sids, err := src.db.AccountSIDs()
	require.NoError(t, err)
	require.Len(t, sids, 3)
	for _, sid := range sids {
		want, err := src.db.Account(sid)
		require.NoError(t, err)
		got, err := dst.Authenticate(sid, src.tokens[sid])
		require.NoError(t, err, "the original auth token works on the copy")
		assert.Equal(t, want, got)
		_, err = dst.Authenticate(sid, strings.Repeat("0", 32))
		assert.ErrorIs(t, err, ErrUnauthorized)
		wantTwilio, err := src.db.TwilioAuthToken(sid)
		require.NoError(t, err)
		gotTwilio, err := dst.TwilioAuthToken(sid)
		require.NoError(t, err)
		assert.Equal(t, wantTwilio, gotTwilio)

		wantPage, err := src.db.ListBins(sid, ListQuery{Templates: true})
		require.NoError(t, err)
		gotPage, err := dst.ListBins(sid, ListQuery{Templates: true})
		require.NoError(t, err)
		assert.Equal(t, wantPage, gotPage)
		var order []string
		for _, b := range gotPage.Bins {
			order = append(order, b.SID)
		}
		assert.Equal(t, src.bins[sid], order, "bins listed in creation order")

		for _, b := range wantPage.Bins {
			wantRevs, err := src.db.Revisions(sid, b.SID)
			require.NoError(t, err)
			gotRevs, err := dst.Revisions(sid, b.SID)
			require.NoError(t, err)
			assert.Equal(t, wantRevs, gotRevs, "revisions of %s", b.SID)
			wantEvents, err := src.db.Events(sid, b.SID, 0)
			require.NoError(t, err)
			gotEvents, err := dst.Events(sid, b.SID, 0)
			require.NoError(t, err)
			assert.Equal(t, wantEvents, gotEvents, "events of %s", b.SID)
			got, err := dst.BinBySID(b.SID)
			require.NoError(t, err)
			assert.Equal(t, b, got)
		}
	}
	_, err = dst.Revision(src.prunedAccount, src.prunedSID, src.prunedRev)
	assert.ErrorIs(t, err, ErrPruned)

	want, got := src.db.Stats(), dst.Stats()
	assert.Equal(t, [2]int{want.Accounts, want.Bins}, [2]int{got.Accounts, got.Bins}, "accounts and bins counted")
}

func TestCopyBoltToBolt(t *testing.T) {
	src := fillStore(t, openTestWith(t, filepath.Join(t.TempDir(), "src.db"), copySourceOptions))
	dstPath := filepath.Join(t.TempDir(), "dst.db")
	dst, err := Open(dstPath, testOptions)
	require.NoError(t, err)

	counts, err := Copy(dst, src.db)
	require.NoError(t, err)
	want := CopyCounts{SessionKey: true, Accounts: 3, Bins: 5, Revisions: 3 + 1 + 1 + 3 + 1, Events: 3 + 1}
	assert.Equal(t, want, counts)
	require.NoError(t, Verify(src.db, dst))
	checkCopy(t, dst, src)
	require.NoError(t, dst.Check())

	t.Run("again", func(t *testing.T) {
		counts, err := Copy(dst, src.db)
		require.NoError(t, err)
		assert.Equal(t, want, counts)
		require.NoError(t, Verify(src.db, dst))
		checkCopy(t, dst, src)
	})

	t.Run("again after the source changed", func(t *testing.T) {
		a := src.prunedAccount
		bins := src.bins[a]
		require.NoError(t, src.db.DeleteBin(a, bins[0], 0))
		_, err := src.db.UpdateBin(a, bins[1], 0, BinInput{FriendlyName: "changed", Template: "<Response/>", RenderPolicy: "strict"})
		require.NoError(t, err)
		src.bins[a] = bins[1:]
		delta, token, err := src.db.CreateAccount("Delta")
		require.NoError(t, err)

		counts, err := Copy(dst, src.db)
		require.NoError(t, err)
		assert.Equal(t, CopyCounts{SessionKey: true, Accounts: 4, Bins: 4, Revisions: 1 + 2 + 3 + 1, Events: 1}, counts)
		require.NoError(t, Verify(src.db, dst))
		_, err = dst.BinBySID(bins[0])
		assert.ErrorIs(t, err, ErrNotFound, "a bin deleted from the source is gone from the copy")
		_, err = dst.Authenticate(delta.SID, token)
		assert.NoError(t, err)
		require.NoError(t, dst.Check())
	})

	// Reopened, the file holds all of it: usage slots and blocks included.
	require.NoError(t, dst.Close())
	dst = openTestWith(t, dstPath, testOptions)
	require.NoError(t, Verify(src.db, dst))

	// The copy takes new bins as any store does: listed last, counted in
	// a usage slot of their own.
	a := src.prunedAccount
	before, err := dst.ListBins(a, ListQuery{})
	require.NoError(t, err)
	added := newBin(t, dst, a, "added")
	dst.RecordRequest(added.SID, time.Time{})
	after, err := dst.ListBins(a, ListQuery{})
	require.NoError(t, err)
	require.Len(t, after.Bins, len(before.Bins)+1)
	assert.Equal(t, added.SID, after.Bins[len(after.Bins)-1].SID)
	assert.Equal(t, int64(1), after.Bins[len(after.Bins)-1].NumRequests)
	assert.Equal(t, before.Bins, after.Bins[:len(before.Bins)], "the other bins' counters are untouched")
}

// TestCopyRefusesForeignDestination: a store holding an account the
// source does not is left as it was.
func TestCopyRefusesForeignDestination(t *testing.T) {
	src := fillStore(t, openTestWith(t, filepath.Join(t.TempDir(), "src.db"), copySourceOptions))
	dstPath := filepath.Join(t.TempDir(), "dst.db")
	dst := openTestWith(t, dstPath, testOptions)
	other, _ := newAccount(t, dst)
	newBin(t, dst, other, "theirs")
	before, err := os.ReadFile(dstPath)
	require.NoError(t, err)

	_, err = Copy(dst, src.db)
	require.ErrorIs(t, err, ErrForeignData)
	assert.Contains(t, err.Error(), other)
	assert.Contains(t, err.Error(), "migrate into an empty store")
	after, err := os.ReadFile(dstPath)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "nothing written")
	sids, err := dst.AccountSIDs()
	require.NoError(t, err)
	assert.Equal(t, []string{other}, sids)

	_, err = Copy(src.db, src.db)
	assert.ErrorContains(t, err, "the same store")
}

// TestCopyIgnoresDestinationQuotas: copied data is taken whole, even past
// the quotas of the store it goes into.
func TestCopyIgnoresDestinationQuotas(t *testing.T) {
	src := fillStore(t, openTestWith(t, filepath.Join(t.TempDir(), "src.db"), copySourceOptions))
	dst := openTestWith(t, filepath.Join(t.TempDir(), "dst.db"), Options{NoSync: true, FlushInterval: time.Hour, MaxBinsPerAccount: 1, MaxBytesPerAccount: 10})
	_, err := Copy(dst, src.db)
	require.NoError(t, err)
	require.NoError(t, Verify(src.db, dst))
	_, err = dst.CreateBin(src.prunedAccount, BinInput{Template: "<Response/>", RenderPolicy: RenderPolicyLenient})
	assert.ErrorIs(t, err, ErrQuota, "the quotas hold for new writes")
}

// TestVerifyFindsDifferences: Verify names the first record and field in
// which a copy differs from its source.
func TestVerifyFindsDifferences(t *testing.T) {
	src := fillStore(t, openTestWith(t, filepath.Join(t.TempDir(), "src.db"), copySourceOptions))
	a := src.prunedAccount
	var b string
	for sid := range src.bins {
		if sid != a {
			b = sid
		}
	}
	cases := []struct {
		name   string
		change func(t *testing.T, dst *DB)
		sid    string
		field  string
		detail string
	}{
		{"template", func(t *testing.T, dst *DB) {
			// The same length, so that no count of bytes differs first.
			require.NoError(t, dst.update(func(tx *bbolt.Tx) error {
				rec, err := findBin(tx, a, src.bins[a][1])
				if err != nil {
					return err
				}
				rec.Template = strings.ToUpper(rec.Template)
				return put(tx.Bucket(bucketBins), []byte(rec.SID), rec)
			}))
		}, src.bins[a][1], "Template", "bytes in the first store"},
		{"usage", func(t *testing.T, dst *DB) {
			dst.RecordRequest(src.bins[b][0], time.Time{})
		}, src.bins[b][0], "NumRequests", "1 in the first store, 2 in the second"},
		{"session epoch", func(t *testing.T, dst *DB) {
			_, err := dst.EndSessions(b)
			require.NoError(t, err)
		}, b, "SessionEpoch", "1 in the first store, 2 in the second"},
		{"quota count", func(t *testing.T, dst *DB) {
			require.NoError(t, dst.DeleteBin(a, src.bins[a][1], 0))
		}, a, "Bins", "3 in the first store, 2 in the second"},
		{"events", func(t *testing.T, dst *DB) {
			dst.AddEvent(src.bins[b][1], Event{Code: "X"})
		}, src.bins[b][1], "Events", "1 in the first store, 2 in the second"},
		{"revision", func(t *testing.T, dst *DB) {
			require.NoError(t, dst.update(func(tx *bbolt.Tx) error {
				return tx.Bucket(bucketRevisions).Delete(seqKey(src.prunedSID, 4))
			}))
		}, src.prunedSID, "Revisions", "3 in the first store, 2 in the second"},
		{"session key", func(t *testing.T, dst *DB) {
			require.NoError(t, dst.ImportSessionKey(bytes.Repeat([]byte{7}, sessionKeySize)))
		}, "", "SessionKey", "differs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := openTestWith(t, filepath.Join(t.TempDir(), "dst.db"), testOptions)
			_, err := Copy(dst, src.db)
			require.NoError(t, err)
			require.NoError(t, Verify(src.db, dst))
			c.change(t, dst)
			err = Verify(src.db, dst)
			var m *MismatchError
			require.ErrorAs(t, err, &m)
			assert.ErrorIs(t, err, ErrMismatch)
			assert.Equal(t, c.sid, m.SID)
			assert.Equal(t, c.field, m.Field)
			assert.Contains(t, m.Detail, c.detail)
		})
	}

	t.Run("a bin missing", func(t *testing.T) {
		dst := openTestWith(t, filepath.Join(t.TempDir(), "dst.db"), testOptions)
		_, err := Copy(dst, src.db)
		require.NoError(t, err)
		// Taken out without the account's counts knowing.
		last := src.bins[a][len(src.bins[a])-1]
		require.NoError(t, dst.update(func(tx *bbolt.Tx) error {
			rec, err := findBin(tx, a, last)
			if err != nil {
				return err
			}
			return tx.Bucket(bucketAccountBins).Delete(seqKey(a, rec.Seq))
		}))
		var m *MismatchError
		require.ErrorAs(t, Verify(src.db, dst), &m)
		assert.Equal(t, last, m.SID)
		assert.Equal(t, "", m.Field)
		// What the second store holds there depends on the order of the
		// random account SIDs: another account, or nothing.
		assert.Contains(t, m.Error(), "store: verify: bin "+last+": ")
		assert.Contains(t, m.Error(), "first store holds bin "+last+" of account "+a)
		assert.NoError(t, Verify(dst, dst), "a store is its own copy")
	})
}

// TestImportRefusesBadDumps: a dump no store could have written is
// refused with what is wrong, and writes nothing.
func TestImportRefusesBadDumps(t *testing.T) {
	db := openTest(t)
	acct := AccountDump{SID: "AC" + strings.Repeat("a", 32), AuthTokenSHA256: HashAuthToken("x")}
	bin := BinDump{SID: "EH" + strings.Repeat("b", 32), AccountSID: acct.SID, Revision: 2,
		Revisions: []Revision{{Revision: 1}, {Revision: 2}}}
	with := func(change func(*BinDump)) BinDump {
		b := bin
		b.Revisions = append([]Revision(nil), bin.Revisions...)
		change(&b)
		return b
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"short session key", db.ImportSessionKey([]byte("short")), "5 bytes, want 32"},
		{"account SID", db.ImportAccount(AccountDump{SID: "AC1", AuthTokenSHA256: HashAuthToken("x")}), "not an account SID"},
		{"token hash", db.ImportAccount(AccountDump{SID: acct.SID, AuthTokenSHA256: []byte("x")}), "a SHA-256"},
		{"unknown account", db.ImportBin(bin), "not found"},
		{"bin SID", db.ImportBin(with(func(b *BinDump) { b.SID = "EHx" })), "not a bin SID"},
		{"no revisions", db.ImportBin(with(func(b *BinDump) { b.Revisions = nil })), "no revisions"},
		{"newest not current", db.ImportBin(with(func(b *BinDump) { b.Revision = 3 })), "the newest revision is 2, not the current one, 3"},
		{"out of order", db.ImportBin(with(func(b *BinDump) { b.Revisions[0].Revision = 2 })), "numbered from 1 up"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Error(t, c.err)
			assert.Contains(t, c.err.Error(), c.want)
		})
	}
	assert.ErrorIs(t, cases[3].err, ErrNotFound)
	stats := db.Stats()
	assert.Equal(t, [2]int{0, 0}, [2]int{stats.Accounts, stats.Bins}, "nothing written")
}
