package etcdstore

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/twimlbin/twimlbin/api"
	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
)

// spaceQuota is the --quota-backend-bytes of the members that the tests
// of etcd's space quota start: 2 MiB, filled in about a second.
const spaceQuota = 2 << 20

// filler is the template of the i-th write that fills etcd: TwiML of
// about 16 KiB, with a letter of its own.
func filler(i int) string {
	say := "<Say>" + strings.Repeat(string(rune('a'+i%26)), 1000) + "</Say>"
	return "<Response>" + strings.Repeat(say, 16) + "</Response>"
}

// TestNoSpace fills etcd up to its space quota through the store and
// checks that the store refuses cleanly: the write that fails says what
// to do and leaves nothing behind, reads and counts go on, and once the
// operator has freed space, writes succeed again without a restart.
func TestNoSpace(t *testing.T) {
	c := etcdtest.Start(t, 1, "--quota-backend-bytes", strconv.Itoa(spaceQuota))
	opts := store.Options{FlushInterval: 10 * time.Millisecond, RevisionsKept: 3}
	a := nodeWith(t, Config{Endpoints: c.Endpoints, Prefix: DefaultPrefix, Options: opts})
	account, token, err := a.CreateAccount("full")
	require.NoError(t, err)
	acct := account.SID
	bin := newBin(t, a, acct, "growing")

	// Fill: update the bin until etcd refuses.
	var last store.Bin
	var lastAccount store.Account
	var failure error
	writes := 0
	for i := 0; failure == nil; i++ {
		require.Less(t, i, 1000, "etcd never refused a write")
		b, err := a.UpdateBin(acct, bin.SID, 0, store.BinInput{FriendlyName: "growing", Template: filler(i), RenderPolicy: "lenient"})
		if err != nil {
			failure = err
			break
		}
		last, writes = b, writes+1
		lastAccount, err = a.Account(acct)
		require.NoError(t, err)
	}
	require.ErrorIs(t, failure, store.ErrNoSpace)
	assert.NotErrorIs(t, failure, store.ErrUnavailable)
	for _, what := range []string{"nothing was saved", "etcdctl compact", "etcdctl defrag", "etcdctl alarm disarm", "--quota-backend-bytes"} {
		assert.Contains(t, failure.Error(), what)
	}
	cli := client(t, c.Endpoints)
	st, err := cli.Status(ctx(t), c.Endpoints[0])
	require.NoError(t, err)
	t.Logf("quota %d KiB: %d updates of %d KiB templates fit (history not compacted), database %d KiB", spaceQuota>>10, writes, len(filler(0))>>10, st.DbSize>>10)

	// Nothing of the failed write: a second node, opened now, loads what
	// etcd holds.
	b := nodeWith(t, Config{Endpoints: c.Endpoints, Prefix: DefaultPrefix, Options: testOptions})
	for name, n := range map[string]*Store{"the writer": a, "a second node": b} {
		got, err := n.Bin(acct, bin.SID)
		require.NoError(t, err, name)
		assert.Equal(t, last.Revision, got.Revision, "%s: the bin's revision", name)
		assert.Equal(t, last.Template, got.Template, name)
		gotAccount, err := n.Account(acct)
		require.NoError(t, err, name)
		assert.Equal(t, lastAccount.Bins, gotAccount.Bins, "%s: the account's bins", name)
		assert.Equal(t, lastAccount.TemplateBytes, gotAccount.TemplateBytes, "%s: the account's bytes", name)
	}

	// Every write is refused, whatever it is; reads go on.
	_, err = a.CreateBin(acct, store.BinInput{FriendlyName: "new", RenderPolicy: "lenient"})
	assert.ErrorIs(t, err, store.ErrNoSpace, "create")
	_, err = a.RestoreRevision(acct, bin.SID, last.Revision-1, 0)
	assert.ErrorIs(t, err, store.ErrNoSpace, "restore")
	assert.ErrorIs(t, a.DeleteBin(acct, bin.SID, 0), store.ErrNoSpace, "delete")
	name := "renamed"
	_, err = a.UpdateAccount(acct, &name)
	assert.ErrorIs(t, err, store.ErrNoSpace, "update account")
	_, err = a.BinBySID(bin.SID)
	assert.NoError(t, err)
	page, err := a.ListBins(acct, store.ListQuery{})
	require.NoError(t, err)
	assert.Len(t, page.Bins, 1)
	_, err = a.Authenticate(acct, token)
	assert.NoError(t, err)
	revs, err := a.Revisions(acct, bin.SID)
	require.NoError(t, err)
	assert.Len(t, revs, 3)
	_, err = a.Revision(acct, bin.SID, last.Revision)
	assert.NoError(t, err)
	_, err = a.Events(acct, bin.SID, 0)
	assert.NoError(t, err)

	// The API answers 507 with code 10507, and serves the bin (which
	// counts a request).
	h := apiOver(t, a)
	update := httptest.NewRequest(http.MethodPost, "/api/v1/bins/"+bin.SID, strings.NewReader(`{"template":"<Response/>"}`))
	update.Header.Set("Content-Type", "application/json")
	update.SetBasicAuth(acct, token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, update)
	assert.Equal(t, http.StatusInsufficientStorage, rec.Code, rec.Body.String())
	var apiErr api.Error
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &apiErr), rec.Body.String())
	assert.Equal(t, 10507, apiErr.Code)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/twiml/"+bin.SID, nil))
	assert.Equal(t, http.StatusOK, rec.Code, "the bin URL: %s", rec.Body.String())

	// Counts wait in memory while the flushes fail, and are counted so.
	const requests = 5 + 1 // and the bin URL's
	for range requests - 1 {
		a.RecordRequest(bin.SID, time.Time{})
	}
	failed := a.Stats().FlushErrors
	waitFor(t, "a flush fails for want of space", func() bool { return a.Stats().FlushErrors > failed })
	assert.ErrorIs(t, a.Flush(), store.ErrNoSpace)
	got, err := a.BinBySID(bin.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(requests), got.NumRequests, "the counts kept in memory")

	// The operator's way out: compact, defragment, disarm.
	freeSpace(t, cli, c.Endpoints[0])
	after, err := a.UpdateBin(acct, bin.SID, 0, store.BinInput{FriendlyName: "growing", Template: "<Response/>", RenderPolicy: "lenient"})
	require.NoError(t, err, "a write once space is freed, without reopening the store")
	assert.Equal(t, last.Revision+1, after.Revision)
	require.NoError(t, a.Flush())
	usage, err := cli.Get(ctx(t), DefaultPrefix+dirUsage+bin.SID)
	require.NoError(t, err)
	require.Len(t, usage.Kvs, 1)
	var u usageRecord
	require.NoError(t, decode("", usage.Kvs[0].Value, &u))
	assert.Equal(t, int64(requests), u.Requests, "the counts kept while etcd was full")
	waitFor(t, "the second node sees the write and the counts", func() bool {
		got, err := b.BinBySID(bin.SID)
		return err == nil && got.Revision == after.Revision && got.NumRequests == requests
	})
	_, err = a.CreateBin(acct, store.BinInput{FriendlyName: "new", RenderPolicy: "lenient"})
	assert.NoError(t, err, "create")
}

// apiOver is the API's handler over s.
func apiOver(t *testing.T, s *Store) http.Handler {
	t.Helper()
	srv, err := api.New(api.Config{}, s, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return srv.Handler()
}

// freeSpace does what an operator does for an etcd out of space: compact
// its history to now, defragment the member, and clear the alarm.
func freeSpace(t *testing.T, cli *clientv3.Client, endpoint string) {
	t.Helper()
	now, err := cli.Get(ctx(t), "/")
	require.NoError(t, err)
	_, err = cli.Compact(ctx(t), now.Header.Revision, clientv3.WithCompactPhysical())
	require.NoError(t, err)
	_, err = cli.Defragment(ctx(t), endpoint)
	require.NoError(t, err)
	alarms, err := cli.AlarmList(ctx(t))
	require.NoError(t, err)
	require.NotEmpty(t, alarms.Alarms, "etcd raised its NOSPACE alarm")
	for _, alarm := range alarms.Alarms {
		assert.Equal(t, etcdserverpb.AlarmType_NOSPACE, alarm.Alarm)
		_, err := cli.AlarmDisarm(ctx(t), (*clientv3.AlarmMember)(alarm))
		require.NoError(t, err)
	}
}

// TestSavedDespiteNoSpace: etcd may apply a write and answer NOSPACE all
// the same (its quota is checked again as the write is applied); commit
// then finds the write saved and answers as etcd would have, and passes
// the refusal on when it was not.
func TestSavedDespiteNoSpace(t *testing.T) {
	s, endpoints, prefix := shared(t, testOptions)
	cli := client(t, endpoints)
	key := prefix + "probe"
	put, err := cli.Put(ctx(t), key, "written") // as the refused write did
	require.NoError(t, err)

	refused := refusedTxn{cli.Txn(ctx(t))}
	resp, err := s.commit(ctx(t), refused, s.holds(key, "written"))
	require.NoError(t, err, "the write landed")
	assert.True(t, resp.Succeeded)
	assert.Equal(t, put.Header.Revision, resp.Header.Revision)

	_, err = s.commit(ctx(t), refused, s.holds(key, "not written"))
	assert.ErrorIs(t, err, rpctypes.ErrNoSpace, "the write did not land")
	_, err = s.commit(ctx(t), refused, s.holds(prefix+"absent", "written"))
	assert.ErrorIs(t, err, rpctypes.ErrNoSpace, "no such key")
}

// refusedTxn is a transaction that etcd answers with NOSPACE.
type refusedTxn struct{ clientv3.Txn }

func (refusedTxn) Commit() (*clientv3.TxnResponse, error) { return nil, rpctypes.ErrNoSpace }
