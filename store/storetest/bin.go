package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

func testCreateBin(t *testing.T, e *env) {
	s := e.open(options)
	acct, _ := newAccount(t, s)
	in := store.BinInput{FriendlyName: "Hello", Template: "<Response><Say>Hi {{Name}}</Say></Response>", RenderPolicy: "strict"}

	b, err := s.CreateBin(acct, in)
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

	got, err := s.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, b, got)

	revs, err := s.Revisions(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, []store.Revision{{
		Revision: 1, FriendlyName: in.FriendlyName, Template: in.Template, RenderPolicy: in.RenderPolicy,
		DateCreated: b.DateCreated, Size: len(in.Template),
	}}, revs)

	_, err = s.CreateBin(unknownAccount, in)
	assert.ErrorIs(t, err, store.ErrNotFound, "unknown account")
}

func testBinLookups(t *testing.T, e *env) {
	s := e.open(options)
	alice, _ := newAccount(t, s)
	bob, _ := newAccount(t, s)
	b := newBin(t, s, alice, "alice's")

	got, err := s.Bin(alice, b.SID)
	require.NoError(t, err)
	assert.Equal(t, b, got)
	got, err = s.BinBySID(b.SID)
	require.NoError(t, err)
	assert.Equal(t, b, got, "the bin URL needs no account")

	for _, tc := range []struct{ name, account, sid string }{
		{"another account's bin", bob, b.SID},
		{"unknown bin", alice, unknownBin},
		{"malformed SID", alice, "../etc/passwd"},
		{"empty SID", alice, ""},
		{"unknown account", unknownAccount, b.SID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Bin(tc.account, tc.sid)
			assert.ErrorIs(t, err, store.ErrNotFound)
			assert.Equal(t, store.Bin{}, got)
		})
	}
	for _, sid := range []string{unknownBin, "", "EH"} {
		_, err := s.BinBySID(sid)
		assert.ErrorIs(t, err, store.ErrNotFound, "BinBySID(%q)", sid)
	}
}

func testUpdateBin(t *testing.T, e *env) {
	s := e.open(options)
	alice, _ := newAccount(t, s)
	bob, _ := newAccount(t, s)
	b := newBin(t, s, alice, "v1")
	v2 := store.BinInput{FriendlyName: "v2", Template: "<Response><Hangup/></Response>", RenderPolicy: "strict"}

	t.Run("stale revision", func(t *testing.T) {
		_, err := s.UpdateBin(alice, b.SID, 7, v2)
		assert.ErrorIs(t, err, store.ErrConflict)
		got, err := s.Bin(alice, b.SID)
		require.NoError(t, err)
		assert.Equal(t, b, got, "nothing saved")
	})
	t.Run("another account's bin", func(t *testing.T) {
		_, err := s.UpdateBin(bob, b.SID, 0, v2)
		assert.ErrorIs(t, err, store.ErrNotFound)
		got, err := s.Bin(alice, b.SID)
		require.NoError(t, err)
		assert.Equal(t, b, got, "nothing saved")
	})
	t.Run("unknown bin", func(t *testing.T) {
		_, err := s.UpdateBin(alice, unknownBin, 0, v2)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("current revision", func(t *testing.T) {
		got, err := s.UpdateBin(alice, b.SID, 1, v2)
		require.NoError(t, err)
		assert.Equal(t, 2, got.Revision)
		assert.Equal(t, v2.FriendlyName, got.FriendlyName)
		assert.Equal(t, v2.Template, got.Template)
		assert.Equal(t, v2.RenderPolicy, got.RenderPolicy)
		assert.Equal(t, b.DateCreated, got.DateCreated)
		assert.False(t, got.DateUpdated.Before(b.DateUpdated))
		read, err := s.Bin(alice, b.SID)
		require.NoError(t, err)
		assert.Equal(t, got, read)
	})
	t.Run("unconditional", func(t *testing.T) {
		got, err := s.UpdateBin(alice, b.SID, 0, store.BinInput{FriendlyName: "v3", RenderPolicy: store.RenderPolicyLenient})
		require.NoError(t, err)
		assert.Equal(t, 3, got.Revision)
		assert.Equal(t, "", got.Template, "every field replaces the stored one")
	})
	t.Run("usage carries over", func(t *testing.T) {
		s.RecordRequest(b.SID, time.Time{})
		got, err := s.UpdateBin(alice, b.SID, 0, v2)
		require.NoError(t, err)
		assert.Equal(t, int64(1), got.NumRequests)
	})
}

// testUpdateBinConcurrent: writers racing to update one bin, each with
// the revision it read, never lose an update: each revision has exactly
// one winner, and the others get ErrConflict.
func testUpdateBinConcurrent(t *testing.T, e *env) {
	const writers, tries = 16, 20
	opts := options
	opts.RevisionsKept = writers*tries + 1 // every revision, to check them all
	s := e.open(opts)
	acct, _ := newAccount(t, s)
	b := newBin(t, s, acct, "contended")

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
				cur, err := s.Bin(acct, b.SID)
				if !assert.NoError(t, err) {
					return
				}
				in := store.BinInput{FriendlyName: fmt.Sprintf("writer %d try %d", w, i), Template: cur.Template, RenderPolicy: cur.RenderPolicy}
				got, err := s.UpdateBin(acct, b.SID, cur.Revision, in)
				mu.Lock()
				switch {
				case err == nil:
					assert.Equal(t, cur.Revision+1, got.Revision)
					won = append(won, got.Revision)
				case assert.ErrorIs(t, err, store.ErrConflict):
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
	final, err := s.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, 1+len(won), final.Revision, "no lost update")
	revs, err := s.Revisions(acct, b.SID)
	require.NoError(t, err)
	assert.Len(t, revs, final.Revision)
}

// testDeleteBin: a delete takes the bin with its revisions, its counters
// and its events, flushed or not.
func testDeleteBin(t *testing.T, e *env) {
	s := e.open(options)
	alice, _ := newAccount(t, s)
	bob, _ := newAccount(t, s)
	keep := newBin(t, s, alice, "keep")
	b := newBin(t, s, alice, "doomed")
	_, err := s.UpdateBin(alice, b.SID, 0, store.BinInput{FriendlyName: "doomed v2", RenderPolicy: store.RenderPolicyLenient})
	require.NoError(t, err)
	s.RecordRequest(b.SID, time.Time{})
	s.AddEvent(b.SID, store.Event{Code: "flushed"})
	require.NoError(t, s.Flush())
	s.RecordRequest(b.SID, time.Time{})
	s.AddEvent(b.SID, store.Event{Code: "buffered"})

	t.Run("stale revision", func(t *testing.T) {
		assert.ErrorIs(t, s.DeleteBin(alice, b.SID, 1), store.ErrConflict)
	})
	t.Run("another account's bin", func(t *testing.T) {
		assert.ErrorIs(t, s.DeleteBin(bob, b.SID, 0), store.ErrNotFound)
	})
	t.Run("unknown bin", func(t *testing.T) {
		assert.ErrorIs(t, s.DeleteBin(alice, unknownBin, 0), store.ErrNotFound)
	})
	_, err = s.Bin(alice, b.SID)
	require.NoError(t, err, "the failed deletes kept the bin")

	require.NoError(t, s.DeleteBin(alice, b.SID, 2))
	_, err = s.Bin(alice, b.SID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.BinBySID(b.SID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Revisions(alice, b.SID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Events(alice, b.SID, 0)
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorIs(t, s.DeleteBin(alice, b.SID, 0), store.ErrNotFound, "twice")
	page, err := s.ListBins(alice, store.ListQuery{Templates: true})
	require.NoError(t, err)
	assert.Equal(t, []store.Bin{keep}, page.Bins)
}

func testRevisions(t *testing.T, e *env) {
	s := e.open(options)
	alice, _ := newAccount(t, s)
	bob, _ := newAccount(t, s)
	b := newBin(t, s, alice, "v1")
	for _, name := range []string{"v2", "v3"} {
		_, err := s.UpdateBin(alice, b.SID, 0, store.BinInput{FriendlyName: name, Template: "<Response><Say>" + name + "</Say></Response>", RenderPolicy: "strict"})
		require.NoError(t, err)
	}

	revs, err := s.Revisions(alice, b.SID)
	require.NoError(t, err)
	require.Len(t, revs, 3)
	for i, want := range []string{"v3", "v2", "v1"} {
		assert.Equal(t, 3-i, revs[i].Revision, "newest first")
		assert.Equal(t, want, revs[i].FriendlyName)
		assert.Equal(t, len(revs[i].Template), revs[i].Size)
	}
	assert.Equal(t, "lenient", revs[2].RenderPolicy)

	rev, err := s.Revision(alice, b.SID, 2)
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
			_, err := s.Revision(tc.account, tc.sid, tc.rev)
			assert.ErrorIs(t, err, store.ErrNotFound)
		})
	}
	_, err = s.Revisions(bob, b.SID)
	assert.ErrorIs(t, err, store.ErrNotFound, "another account's history")

	// Revisions of one bin never show up in another's history.
	other := newBin(t, s, alice, "other")
	revs, err = s.Revisions(alice, other.SID)
	require.NoError(t, err)
	assert.Len(t, revs, 1)
}

func testRestoreRevision(t *testing.T, e *env) {
	s := e.open(options)
	alice, _ := newAccount(t, s)
	bob, _ := newAccount(t, s)
	b := newBin(t, s, alice, "v1")
	_, err := s.UpdateBin(alice, b.SID, 0, store.BinInput{FriendlyName: "v2", Template: "<Response/>", RenderPolicy: "strict"})
	require.NoError(t, err)

	t.Run("stale revision", func(t *testing.T) {
		_, err := s.RestoreRevision(alice, b.SID, 1, 1)
		assert.ErrorIs(t, err, store.ErrConflict)
	})
	t.Run("unknown revision", func(t *testing.T) {
		_, err := s.RestoreRevision(alice, b.SID, 9, 2)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("another account's bin", func(t *testing.T) {
		_, err := s.RestoreRevision(bob, b.SID, 1, 0)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("unknown bin", func(t *testing.T) {
		_, err := s.RestoreRevision(alice, unknownBin, 1, 0)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})

	got, err := s.RestoreRevision(alice, b.SID, 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Revision, "a restore is a new revision")
	assert.Equal(t, b.FriendlyName, got.FriendlyName)
	assert.Equal(t, b.Template, got.Template)
	assert.Equal(t, b.RenderPolicy, got.RenderPolicy)
	read, err := s.Bin(alice, b.SID)
	require.NoError(t, err)
	assert.Equal(t, got, read)

	revs, err := s.Revisions(alice, b.SID)
	require.NoError(t, err)
	require.Len(t, revs, 3)
	assert.Equal(t, b.Template, revs[0].Template)
	assert.Equal(t, "<Response/>", revs[1].Template, "history is kept")
}

// testRevisionsPruned: a bin keeps its RevisionsKept newest revisions;
// older ones are gone after more saves, and asking for one is ErrPruned,
// which is also ErrNotFound.
func testRevisionsPruned(t *testing.T, e *env) {
	const kept, more = 5, 7
	opts := options
	opts.RevisionsKept = kept
	s := e.open(opts)
	acct, _ := newAccount(t, s)
	b := newBin(t, s, acct, "v1")
	for i := 2; i <= kept+more; i++ {
		var err error
		b, err = s.UpdateBin(acct, b.SID, 0, store.BinInput{FriendlyName: fmt.Sprint("v", i), Template: templateOf(fmt.Sprint(i), 100), RenderPolicy: "lenient"})
		require.NoError(t, err)
	}
	revs, err := s.Revisions(acct, b.SID)
	require.NoError(t, err)
	var got []int
	for _, r := range revs {
		got = append(got, r.Revision)
	}
	assert.Equal(t, []int{12, 11, 10, 9, 8}, got, "the newest %d revisions", kept)

	_, err = s.Revision(acct, b.SID, kept+more-kept)
	assert.ErrorIs(t, err, store.ErrPruned, "revision 7")
	assert.ErrorIs(t, err, store.ErrNotFound, "a pruned revision is not found")
	_, err = s.Revision(acct, b.SID, 1)
	assert.ErrorIs(t, err, store.ErrPruned, "revision 1")
	_, err = s.RestoreRevision(acct, b.SID, 1, 0)
	assert.ErrorIs(t, err, store.ErrPruned, "restoring revision 1")
	_, err = s.Revision(acct, b.SID, kept+more+1)
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.False(t, errors.Is(err, store.ErrPruned), "a revision not yet saved is not pruned: %v", err)
	r, err := s.Revision(acct, b.SID, kept+more-kept+1)
	require.NoError(t, err, "the oldest kept revision")
	assert.Equal(t, "v8", r.FriendlyName)
}

func testListBins(t *testing.T, e *env) {
	s := e.open(options)
	alice, _ := newAccount(t, s)
	bob, _ := newAccount(t, s)
	empty, _ := newAccount(t, s)
	var want []store.Bin // alice's, in creation order
	for i := range 7 {
		want = append(want, newBin(t, s, alice, fmt.Sprintf("alice %d", i)))
		if i%2 == 0 {
			newBin(t, s, bob, fmt.Sprintf("bob %d", i)) // interleaved
		}
	}

	for _, size := range []int{1, 2, 100} {
		t.Run(fmt.Sprintf("page size %d", size), func(t *testing.T) {
			var got []store.Bin
			pages, token := 0, ""
			for {
				page, err := s.ListBins(alice, store.ListQuery{Templates: true, PageSize: size, PageToken: token})
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
		page, err := s.ListBins(alice, store.ListQuery{Templates: true})
		require.NoError(t, err)
		assert.Equal(t, want, page.Bins)
		assert.Equal(t, "", page.Next)
	})
	t.Run("bad token", func(t *testing.T) {
		// Tokens no backend makes: not base64url at all. Package store
		// tests tokens of the right alphabet but the wrong contents
		// against its own format.
		for _, token := range []string{"!!!", "not base64 at all"} {
			_, err := s.ListBins(alice, store.ListQuery{Templates: true, PageSize: 2, PageToken: token})
			assert.ErrorIs(t, err, store.ErrBadPageToken, "%q", token)
		}
	})
	t.Run("no bins", func(t *testing.T) {
		page, err := s.ListBins(empty, store.ListQuery{Templates: true, PageSize: 10})
		require.NoError(t, err)
		assert.NotNil(t, page.Bins)
		assert.Empty(t, page.Bins)
		assert.Equal(t, "", page.Next)
	})
	t.Run("unknown account", func(t *testing.T) {
		_, err := s.ListBins(unknownAccount, store.ListQuery{Templates: true, PageSize: 10})
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("without templates", func(t *testing.T) {
		page, err := s.ListBins(alice, store.ListQuery{})
		require.NoError(t, err)
		require.Len(t, page.Bins, len(want))
		for i, b := range page.Bins {
			w := want[i]
			w.Template = ""
			assert.Equal(t, w, b)
		}
	})
	t.Run("Take ends a page early, never before its first bin", func(t *testing.T) {
		var got []store.Bin
		token, pages := "", 0
		for {
			taken := 0
			page, err := s.ListBins(alice, store.ListQuery{Templates: true, PageToken: token, Take: func(store.Bin) bool {
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
		page, err := s.ListBins(alice, store.ListQuery{Templates: true, PageSize: 3})
		require.NoError(t, err)
		// Delete the last bin of this page and the first of the next.
		require.NoError(t, s.DeleteBin(alice, want[2].SID, 0))
		require.NoError(t, s.DeleteBin(alice, want[3].SID, 0))
		next, err := s.ListBins(alice, store.ListQuery{Templates: true, PageSize: 3, PageToken: page.Next})
		require.NoError(t, err)
		assert.Equal(t, want[4:7], next.Bins)
		assert.Equal(t, "", next.Next)
	})
	t.Run("usage included", func(t *testing.T) {
		s.RecordRequest(want[0].SID, time.Time{})
		page, err := s.ListBins(alice, store.ListQuery{Templates: true, PageSize: 1})
		require.NoError(t, err)
		assert.Equal(t, int64(1), page.Bins[0].NumRequests)
	})
}

// quotaInput is a bin of a template of exactly n bytes.
func quotaInput(tag string, n int) store.BinInput {
	return store.BinInput{FriendlyName: tag, Template: templateOf(tag, n), RenderPolicy: "lenient"}
}

// testQuotaBins: the last bin that fits is created, the next is refused
// with a QuotaError, and deleting a bin makes room again. Other accounts
// are not affected.
func testQuotaBins(t *testing.T, e *env) {
	opts := options
	opts.MaxBinsPerAccount = 3
	s := e.open(opts)
	alice, _ := newAccount(t, s)
	bob, _ := newAccount(t, s)
	var bins []store.Bin
	for i := range 3 {
		bins = append(bins, newBin(t, s, alice, fmt.Sprint("b", i)))
	}
	_, err := s.CreateBin(alice, quotaInput("over", 100))
	require.ErrorIs(t, err, store.ErrQuota)
	var qe *store.QuotaError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, store.QuotaError{Quota: "bins", Limit: 3, Used: 3, Want: 4}, *qe)
	page, err := s.ListBins(alice, store.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, page.Bins, 3, "nothing was saved")

	newBin(t, s, bob, "bob's")
	require.NoError(t, s.DeleteBin(alice, bins[0].SID, 0))
	newBin(t, s, alice, "fits again")
	acct, err := s.Account(alice)
	require.NoError(t, err)
	assert.Equal(t, 3, acct.Bins)
}

// testQuotaBytes: every kept revision counts; the write that reaches the
// quota exactly is saved, one byte more is refused; pruning and deleting
// give bytes back.
func testQuotaBytes(t *testing.T, e *env) {
	const limit = 1000
	opts := options
	opts.MaxBytesPerAccount = limit
	opts.RevisionsKept = 3
	s := e.open(opts)
	acct, _ := newAccount(t, s)
	usage := func() int64 {
		t.Helper()
		a, err := s.Account(acct)
		require.NoError(t, err)
		return a.TemplateBytes
	}

	a, err := s.CreateBin(acct, quotaInput("a", 300))
	require.NoError(t, err)
	_, err = s.UpdateBin(acct, a.SID, 0, quotaInput("a2", 300))
	require.NoError(t, err)
	assert.Equal(t, int64(600), usage(), "two revisions of 300 bytes")

	_, err = s.CreateBin(acct, quotaInput("b", 401))
	var qe *store.QuotaError
	require.ErrorAs(t, err, &qe, "one byte over")
	assert.ErrorIs(t, err, store.ErrQuota)
	assert.Equal(t, store.QuotaError{Quota: "bytes", Limit: limit, Used: 600, Want: 1001}, *qe)
	assert.Equal(t, int64(600), usage(), "nothing was saved")
	b, err := s.CreateBin(acct, quotaInput("b", 400))
	require.NoError(t, err, "exactly at the quota")
	assert.Equal(t, int64(limit), usage())

	_, err = s.UpdateBin(acct, a.SID, 0, quotaInput("a3", 40))
	require.ErrorIs(t, err, store.ErrQuota, "a third revision of a is over")
	_, err = s.UpdateBin(acct, b.SID, 0, quotaInput("b2", 40))
	require.ErrorIs(t, err, store.ErrQuota)

	// Deleting b frees its 400 bytes; a third and a fourth revision of a,
	// which prunes its first, fit in them.
	require.NoError(t, s.DeleteBin(acct, b.SID, 0))
	assert.Equal(t, int64(600), usage())
	_, err = s.UpdateBin(acct, a.SID, 0, quotaInput("a3", 300))
	require.NoError(t, err)
	_, err = s.UpdateBin(acct, a.SID, 0, quotaInput("a4", 400))
	require.NoError(t, err, "revision 1 is pruned: 300 + 300 + 400")
	assert.Equal(t, int64(limit), usage())
	_, err = s.UpdateBin(acct, a.SID, 0, quotaInput("a5", 301))
	require.ErrorIs(t, err, store.ErrQuota, "300 + 400 + 301")
	_, err = s.UpdateBin(acct, a.SID, 0, quotaInput("a5", 300))
	require.NoError(t, err, "300 + 400 + 300")
	assert.Equal(t, int64(limit), usage())
}
