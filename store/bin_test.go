package store

import (
	"encoding/base64"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

const unknownBin = "EH00000000000000000000000000000000"

func TestCreateBin(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	in := BinInput{FriendlyName: "Hello", Template: "<Response><Say>Hi {{Name}}</Say></Response>", RenderPolicy: "strict"}

	b, err := db.CreateBin(acct, in)
	require.NoError(t, err)
	assert.Regexp(t, binSIDPattern, b.SID)
	assert.Equal(t, acct, b.AccountSID)
	assert.Equal(t, in.FriendlyName, b.FriendlyName)
	assert.Equal(t, in.Template, b.Template)
	assert.Equal(t, in.RenderPolicy, b.RenderPolicy)
	assert.Equal(t, 1, b.Revision)
	assert.False(t, b.DateCreated.IsZero())
	assert.Equal(t, b.DateCreated, b.DateUpdated)
	assert.True(t, b.DateLastAccessed.IsZero())
	assert.Zero(t, b.NumRequests)

	got, err := db.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, b, got)

	revs, err := db.Revisions(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, []Revision{{
		Revision: 1, FriendlyName: in.FriendlyName, Template: in.Template, RenderPolicy: in.RenderPolicy,
		DateCreated: b.DateCreated, Size: len(in.Template),
	}}, revs)

	_, err = db.CreateBin("AC00000000000000000000000000000000", in)
	assert.ErrorIs(t, err, ErrNotFound, "unknown account")
}

func TestBinLookups(t *testing.T) {
	db := openTest(t)
	alice, _ := newAccount(t, db)
	bob, _ := newAccount(t, db)
	b := newBin(t, db, alice, "alice's")

	got, err := db.Bin(alice, b.SID)
	require.NoError(t, err)
	assert.Equal(t, b, got)
	got, err = db.BinBySID(b.SID)
	require.NoError(t, err)
	assert.Equal(t, b, got, "the bin URL needs no account")

	for _, tc := range []struct{ name, account, sid string }{
		{"another account's bin", bob, b.SID},
		{"unknown bin", alice, unknownBin},
		{"malformed SID", alice, "../etc/passwd"},
		{"empty SID", alice, ""},
		{"unknown account", "AC00000000000000000000000000000000", b.SID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Bin(tc.account, tc.sid)
			assert.ErrorIs(t, err, ErrNotFound)
			assert.Equal(t, Bin{}, got)
		})
	}
	for _, sid := range []string{unknownBin, "", "EH"} {
		_, err := db.BinBySID(sid)
		assert.ErrorIs(t, err, ErrNotFound, "BinBySID(%q)", sid)
	}
}

func TestUpdateBin(t *testing.T) {
	db := openTest(t)
	alice, _ := newAccount(t, db)
	bob, _ := newAccount(t, db)
	b := newBin(t, db, alice, "v1")
	v2 := BinInput{FriendlyName: "v2", Template: "<Response><Hangup/></Response>", RenderPolicy: "strict"}

	t.Run("stale revision", func(t *testing.T) {
		_, err := db.UpdateBin(alice, b.SID, 7, v2)
		assert.ErrorIs(t, err, ErrConflict)
		got, err := db.Bin(alice, b.SID)
		require.NoError(t, err)
		assert.Equal(t, b, got, "nothing saved")
	})
	t.Run("another account's bin", func(t *testing.T) {
		_, err := db.UpdateBin(bob, b.SID, 0, v2)
		assert.ErrorIs(t, err, ErrNotFound)
		got, err := db.Bin(alice, b.SID)
		require.NoError(t, err)
		assert.Equal(t, b, got, "nothing saved")
	})
	t.Run("unknown bin", func(t *testing.T) {
		_, err := db.UpdateBin(alice, unknownBin, 0, v2)
		assert.ErrorIs(t, err, ErrNotFound)
	})
	t.Run("current revision", func(t *testing.T) {
		got, err := db.UpdateBin(alice, b.SID, 1, v2)
		require.NoError(t, err)
		assert.Equal(t, 2, got.Revision)
		assert.Equal(t, v2.FriendlyName, got.FriendlyName)
		assert.Equal(t, v2.Template, got.Template)
		assert.Equal(t, v2.RenderPolicy, got.RenderPolicy)
		assert.Equal(t, b.DateCreated, got.DateCreated)
		assert.False(t, got.DateUpdated.Before(b.DateUpdated))
		read, err := db.Bin(alice, b.SID)
		require.NoError(t, err)
		assert.Equal(t, got, read)
	})
	t.Run("unconditional", func(t *testing.T) {
		got, err := db.UpdateBin(alice, b.SID, 0, BinInput{FriendlyName: "v3", RenderPolicy: RenderPolicyLenient})
		require.NoError(t, err)
		assert.Equal(t, 3, got.Revision)
		assert.Equal(t, "", got.Template, "every field replaces the stored one")
	})
	t.Run("usage carries over", func(t *testing.T) {
		db.RecordRequest(b.SID, time.Time{})
		got, err := db.UpdateBin(alice, b.SID, 0, v2)
		require.NoError(t, err)
		assert.Equal(t, int64(1), got.NumRequests)
	})
}

func TestUpdateBinConcurrent(t *testing.T) {
	const writers, tries = 16, 20
	opts := testOptions
	opts.RevisionsKept = writers*tries + 1 // every revision, to check them all
	db := openTestWith(t, filepath.Join(t.TempDir(), "twimlbin.db"), opts)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "contended")

	var (
		mu        sync.Mutex
		won       []int // the revision each successful update made
		conflicts int
		wg        sync.WaitGroup
	)
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			for i := range tries {
				cur, err := db.Bin(acct, b.SID)
				if !assert.NoError(t, err) {
					return
				}
				in := BinInput{FriendlyName: fmt.Sprintf("writer %d try %d", w, i), Template: cur.Template, RenderPolicy: cur.RenderPolicy}
				got, err := db.UpdateBin(acct, b.SID, cur.Revision, in)
				mu.Lock()
				switch {
				case err == nil:
					assert.Equal(t, cur.Revision+1, got.Revision)
					won = append(won, got.Revision)
				case assert.ErrorIs(t, err, ErrConflict):
					conflicts++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()

	require.NotEmpty(t, won)
	assert.Equal(t, writers*tries, len(won)+conflicts)
	slices.Sort(won)
	for i, rev := range won {
		require.Equal(t, i+2, rev, "each revision has exactly one winner")
	}
	final, err := db.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, 1+len(won), final.Revision, "no lost update")
	revs, err := db.Revisions(acct, b.SID)
	require.NoError(t, err)
	assert.Len(t, revs, final.Revision)
}

func TestDeleteBin(t *testing.T) {
	db := openTest(t)
	alice, _ := newAccount(t, db)
	bob, _ := newAccount(t, db)
	keep := newBin(t, db, alice, "keep")
	b := newBin(t, db, alice, "doomed")
	_, err := db.UpdateBin(alice, b.SID, 0, BinInput{FriendlyName: "doomed v2", RenderPolicy: RenderPolicyLenient})
	require.NoError(t, err)
	db.RecordRequest(b.SID, time.Time{})
	db.AddEvent(b.SID, Event{Code: "flushed"})
	require.NoError(t, db.Flush())
	db.RecordRequest(b.SID, time.Time{})
	db.AddEvent(b.SID, Event{Code: "buffered"})

	t.Run("stale revision", func(t *testing.T) {
		assert.ErrorIs(t, db.DeleteBin(alice, b.SID, 1), ErrConflict)
	})
	t.Run("another account's bin", func(t *testing.T) {
		assert.ErrorIs(t, db.DeleteBin(bob, b.SID, 0), ErrNotFound)
	})
	t.Run("unknown bin", func(t *testing.T) {
		assert.ErrorIs(t, db.DeleteBin(alice, unknownBin, 0), ErrNotFound)
	})
	_, err = db.Bin(alice, b.SID)
	require.NoError(t, err, "the failed deletes kept the bin")

	require.NoError(t, db.DeleteBin(alice, b.SID, 2))
	_, err = db.Bin(alice, b.SID)
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = db.BinBySID(b.SID)
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = db.Revisions(alice, b.SID)
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = db.Events(alice, b.SID, 0)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, db.DeleteBin(alice, b.SID, 0), ErrNotFound, "twice")
	page, err := db.ListBins(alice, ListQuery{Templates: true})
	require.NoError(t, err)
	assert.Equal(t, []Bin{keep}, page.Bins)

	// Counts recorded after the delete are dropped by the flush too.
	db.RecordRequest(b.SID, time.Time{})
	require.NoError(t, db.Flush())
	require.NoError(t, db.bolt.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
			return bk.ForEach(func(k, v []byte) error {
				assert.NotContains(t, string(k), b.SID, "bucket %s still has a key of the bin", name)
				assert.NotContains(t, string(v), b.SID, "bucket %s still has a value naming the bin", name)
				return nil
			})
		})
	}))
}

func TestRevisions(t *testing.T) {
	db := openTest(t)
	alice, _ := newAccount(t, db)
	bob, _ := newAccount(t, db)
	b := newBin(t, db, alice, "v1")
	for _, name := range []string{"v2", "v3"} {
		_, err := db.UpdateBin(alice, b.SID, 0, BinInput{FriendlyName: name, Template: "<Response><Say>" + name + "</Say></Response>", RenderPolicy: "strict"})
		require.NoError(t, err)
	}

	revs, err := db.Revisions(alice, b.SID)
	require.NoError(t, err)
	require.Len(t, revs, 3)
	for i, want := range []string{"v3", "v2", "v1"} {
		assert.Equal(t, 3-i, revs[i].Revision, "newest first")
		assert.Equal(t, want, revs[i].FriendlyName)
		assert.Equal(t, len(revs[i].Template), revs[i].Size)
	}
	assert.Equal(t, "lenient", revs[2].RenderPolicy)

	rev, err := db.Revision(alice, b.SID, 2)
	require.NoError(t, err)
	assert.Equal(t, revs[1], rev)

	for _, tc := range []struct {
		name    string
		account string
		sid     string
		rev     int
	}{
		{"revision past the last", alice, b.SID, 4},
		{"revision 0", alice, b.SID, 0},
		{"negative revision", alice, b.SID, -1},
		{"another account's bin", bob, b.SID, 1},
		{"unknown bin", alice, unknownBin, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.Revision(tc.account, tc.sid, tc.rev)
			assert.ErrorIs(t, err, ErrNotFound)
		})
	}
	_, err = db.Revisions(bob, b.SID)
	assert.ErrorIs(t, err, ErrNotFound, "another account's history")

	// Revisions of one bin never show up in another's history.
	other := newBin(t, db, alice, "other")
	revs, err = db.Revisions(alice, other.SID)
	require.NoError(t, err)
	assert.Len(t, revs, 1)
}

func TestRestoreRevision(t *testing.T) {
	db := openTest(t)
	alice, _ := newAccount(t, db)
	bob, _ := newAccount(t, db)
	b := newBin(t, db, alice, "v1")
	_, err := db.UpdateBin(alice, b.SID, 0, BinInput{FriendlyName: "v2", Template: "<Response/>", RenderPolicy: "strict"})
	require.NoError(t, err)

	t.Run("stale revision", func(t *testing.T) {
		_, err := db.RestoreRevision(alice, b.SID, 1, 1)
		assert.ErrorIs(t, err, ErrConflict)
	})
	t.Run("unknown revision", func(t *testing.T) {
		_, err := db.RestoreRevision(alice, b.SID, 9, 2)
		assert.ErrorIs(t, err, ErrNotFound)
	})
	t.Run("another account's bin", func(t *testing.T) {
		_, err := db.RestoreRevision(bob, b.SID, 1, 0)
		assert.ErrorIs(t, err, ErrNotFound)
	})
	t.Run("unknown bin", func(t *testing.T) {
		_, err := db.RestoreRevision(alice, unknownBin, 1, 0)
		assert.ErrorIs(t, err, ErrNotFound)
	})

	got, err := db.RestoreRevision(alice, b.SID, 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Revision, "a restore is a new revision")
	assert.Equal(t, b.FriendlyName, got.FriendlyName)
	assert.Equal(t, b.Template, got.Template)
	assert.Equal(t, b.RenderPolicy, got.RenderPolicy)
	read, err := db.Bin(alice, b.SID)
	require.NoError(t, err)
	assert.Equal(t, got, read)

	revs, err := db.Revisions(alice, b.SID)
	require.NoError(t, err)
	require.Len(t, revs, 3)
	assert.Equal(t, b.Template, revs[0].Template)
	assert.Equal(t, "<Response/>", revs[1].Template, "history is kept")
}

func TestListBins(t *testing.T) {
	db := openTest(t)
	alice, _ := newAccount(t, db)
	bob, _ := newAccount(t, db)
	empty, _ := newAccount(t, db)
	var want []Bin // alice's, in creation order
	for i := range 7 {
		want = append(want, newBin(t, db, alice, fmt.Sprintf("alice %d", i)))
		if i%2 == 0 {
			newBin(t, db, bob, fmt.Sprintf("bob %d", i)) // interleaved
		}
	}

	for _, size := range []int{1, 2, 100} {
		t.Run(fmt.Sprintf("page size %d", size), func(t *testing.T) {
			var got []Bin
			pages, token := 0, ""
			for {
				page, err := db.ListBins(alice, ListQuery{Templates: true, PageSize: size, PageToken: token})
				require.NoError(t, err)
				pages++
				assert.LessOrEqual(t, len(page.Bins), size)
				got = append(got, page.Bins...)
				if page.Next == "" {
					break
				}
				require.NotEmpty(t, page.Bins, "a page with a next page is not empty")
				token = page.Next
				require.LessOrEqual(t, pages, len(want), "paging does not end")
			}
			assert.Equal(t, want, got)
			assert.Equal(t, (len(want)+size-1)/size, pages)
		})
	}

	t.Run("default page size", func(t *testing.T) {
		page, err := db.ListBins(alice, ListQuery{Templates: true})
		require.NoError(t, err)
		assert.Equal(t, want, page.Bins)
		assert.Equal(t, "", page.Next)
	})
	t.Run("bad token", func(t *testing.T) {
		for _, token := range []string{"!!!", "not base64 at all", base64.RawURLEncoding.EncodeToString([]byte("short")), "AAAAAAAAAAAAAAAAAAAAAA", base64.RawURLEncoding.EncodeToString(u64(math.MaxUint64))} {
			_, err := db.ListBins(alice, ListQuery{Templates: true, PageSize: 2, PageToken: token})
			assert.ErrorIs(t, err, ErrBadPageToken, "%q", token)
		}
	})
	t.Run("no bins", func(t *testing.T) {
		page, err := db.ListBins(empty, ListQuery{Templates: true, PageSize: 10})
		require.NoError(t, err)
		assert.NotNil(t, page.Bins)
		assert.Empty(t, page.Bins)
		assert.Equal(t, "", page.Next)
	})
	t.Run("unknown account", func(t *testing.T) {
		_, err := db.ListBins("AC00000000000000000000000000000000", ListQuery{Templates: true, PageSize: 10})
		assert.ErrorIs(t, err, ErrNotFound)
	})
	t.Run("without templates", func(t *testing.T) {
		page, err := db.ListBins(alice, ListQuery{})
		require.NoError(t, err)
		require.Len(t, page.Bins, len(want))
		for i, b := range page.Bins {
			w := want[i]
			w.Template = ""
			assert.Equal(t, w, b)
		}
	})
	t.Run("Take ends a page early, never before its first bin", func(t *testing.T) {
		var got []Bin
		token, pages := "", 0
		for {
			taken := 0
			page, err := db.ListBins(alice, ListQuery{Templates: true, PageToken: token, Take: func(Bin) bool {
				taken++
				return taken <= 2 // two bins, then no more
			}})
			require.NoError(t, err)
			require.NotEmpty(t, page.Bins)
			assert.LessOrEqual(t, len(page.Bins), 2)
			got = append(got, page.Bins...)
			pages++
			if page.Next == "" {
				break
			}
			token = page.Next
		}
		assert.Equal(t, want, got)
		assert.Equal(t, (len(want)+1)/2, pages)
	})
	t.Run("a bin deleted between pages", func(t *testing.T) {
		page, err := db.ListBins(alice, ListQuery{Templates: true, PageSize: 3})
		require.NoError(t, err)
		// Delete the last bin of this page and the first of the next.
		require.NoError(t, db.DeleteBin(alice, want[2].SID, 0))
		require.NoError(t, db.DeleteBin(alice, want[3].SID, 0))
		next, err := db.ListBins(alice, ListQuery{Templates: true, PageSize: 3, PageToken: page.Next})
		require.NoError(t, err)
		assert.Equal(t, want[4:7], next.Bins)
		assert.Equal(t, "", next.Next)
	})
	t.Run("usage included", func(t *testing.T) {
		db.RecordRequest(want[0].SID, time.Time{})
		page, err := db.ListBins(alice, ListQuery{Templates: true, PageSize: 1})
		require.NoError(t, err)
		assert.Equal(t, int64(1), page.Bins[0].NumRequests)
	})
}

// TestBinOwnerPrefix: findBin reads a bin's account from the first bytes
// of its record; a change to binRecord or to put that moves the field must
// fail here rather than send every lookup the slow way.
func TestBinOwnerPrefix(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "owned")
	require.NoError(t, db.bolt.View(func(tx *bbolt.Tx) error {
		owner, ok := binOwner(tx.Bucket(bucketBins).Get([]byte(b.SID)))
		require.True(t, ok, "a stored record begins as binOwner expects")
		assert.Equal(t, acct, string(owner))
		return nil
	}))
	for _, data := range []string{"", "{}", `{"sid":"` + b.SID + `"}`, `{"account_sid":"` + acct + `","sid":"` + b.SID + `"}`} {
		_, ok := binOwner([]byte(data))
		assert.False(t, ok, "%s", data)
	}
}
