package etcdstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
)

const unknownBin = "EH00000000000000000000000000000000"

func TestAccounts(t *testing.T) {
	s, _, _ := shared(t, testOptions)
	acct, token, err := s.CreateAccount("alice")
	require.NoError(t, err)
	assert.True(t, store.IsAccountSID(acct.SID))
	assert.Len(t, token, 32)

	got, err := s.Authenticate(acct.SID, token)
	require.NoError(t, err)
	assert.Equal(t, acct, got)
	for _, bad := range [][2]string{{acct.SID, "wrong"}, {"AC00000000000000000000000000000000", token}} {
		_, err := s.Authenticate(bad[0], bad[1])
		assert.ErrorIs(t, err, store.ErrUnauthorized)
	}
	n, err := s.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	name := "renamed"
	updated, err := s.UpdateAccount(acct.SID, &name)
	require.NoError(t, err)
	assert.Equal(t, "renamed", updated.FriendlyName)
	bad := "tab\there"
	_, err = s.UpdateAccount(acct.SID, &bad)
	var nameErr *store.FriendlyNameError
	assert.ErrorAs(t, err, &nameErr)
	_, err = s.UpdateAccount("AC00000000000000000000000000000000", &name)
	assert.ErrorIs(t, err, store.ErrNotFound)

	withToken, err := s.SetTwilioAuthToken(acct.SID, "twilio-secret")
	require.NoError(t, err)
	assert.True(t, withToken.TwilioAuthTokenSet)
	twilio, err := s.TwilioAuthToken(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, "twilio-secret", twilio)

	newToken, err := s.RotateAuthToken(acct.SID)
	require.NoError(t, err)
	_, err = s.Authenticate(acct.SID, token)
	assert.ErrorIs(t, err, store.ErrUnauthorized, "the old token")
	rotated, err := s.Authenticate(acct.SID, newToken)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), rotated.SessionEpoch)
	ended, err := s.EndSessions(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), ended.SessionEpoch)
}

func TestBins(t *testing.T) {
	s, _, _ := shared(t, testOptions)
	alice, bob := newAccount(t, s), newAccount(t, s)
	b := newBin(t, s, alice, "v1")
	assert.True(t, store.IsBinSID(b.SID))
	assert.Equal(t, 1, b.Revision)

	got, err := s.Bin(alice, b.SID)
	require.NoError(t, err)
	assert.Equal(t, b, got)
	_, err = s.Bin(bob, b.SID)
	assert.ErrorIs(t, err, store.ErrNotFound, "another account's bin")
	_, err = s.CreateBin("AC00000000000000000000000000000000", store.BinInput{RenderPolicy: "lenient"})
	assert.ErrorIs(t, err, store.ErrNotFound, "an unknown account")

	v2, err := s.UpdateBin(alice, b.SID, 1, store.BinInput{FriendlyName: "v2", Template: "<Response/>", RenderPolicy: "strict"})
	require.NoError(t, err)
	assert.Equal(t, 2, v2.Revision)
	_, err = s.UpdateBin(alice, b.SID, 1, store.BinInput{FriendlyName: "stale", RenderPolicy: "lenient"})
	assert.ErrorIs(t, err, store.ErrConflict)
	_, err = s.UpdateBin(bob, b.SID, 0, store.BinInput{FriendlyName: "theirs", RenderPolicy: "lenient"})
	assert.ErrorIs(t, err, store.ErrNotFound)

	restored, err := s.RestoreRevision(alice, b.SID, 1, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, restored.Revision)
	assert.Equal(t, b.Template, restored.Template)
	read, err := s.BinBySID(b.SID)
	require.NoError(t, err)
	assert.Equal(t, restored, read)

	revs, err := s.Revisions(alice, b.SID)
	require.NoError(t, err)
	require.Len(t, revs, 3)
	for i, want := range []int{3, 2, 1} {
		assert.Equal(t, want, revs[i].Revision, "newest first")
	}
	rev, err := s.Revision(alice, b.SID, 2)
	require.NoError(t, err)
	assert.Equal(t, revs[1], rev)
	for _, r := range []int{0, 4} {
		_, err := s.Revision(alice, b.SID, r)
		assert.ErrorIs(t, err, store.ErrNotFound, "revision %d", r)
	}

	acct, err := s.Account(alice)
	require.NoError(t, err)
	assert.Equal(t, 1, acct.Bins)
	assert.Equal(t, int64(2*len(b.Template)+len("<Response/>")), acct.TemplateBytes)

	assert.ErrorIs(t, s.DeleteBin(alice, b.SID, 1), store.ErrConflict)
	assert.ErrorIs(t, s.DeleteBin(bob, b.SID, 0), store.ErrNotFound)
	require.NoError(t, s.DeleteBin(alice, b.SID, 3))
	_, err = s.BinBySID(b.SID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Revisions(alice, b.SID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	acct, err = s.Account(alice)
	require.NoError(t, err)
	assert.Zero(t, acct.Bins)
	assert.Zero(t, acct.TemplateBytes)
}

// TestRevisionsPruned: past RevisionsKept, the oldest revisions go in the
// same transaction, with their bytes, and reading one is ErrPruned.
func TestRevisionsPruned(t *testing.T) {
	s, endpoints, prefix := shared(t, store.Options{FlushInterval: time.Hour, RevisionsKept: 3})
	acct := newAccount(t, s)
	b := newBin(t, s, acct, "v1")
	for i := 2; i <= 6; i++ {
		_, err := s.UpdateBin(acct, b.SID, 0, store.BinInput{FriendlyName: "v" + strconv.Itoa(i), Template: strings.Repeat("x", i), RenderPolicy: "lenient"})
		require.NoError(t, err)
	}
	revs, err := s.Revisions(acct, b.SID)
	require.NoError(t, err)
	require.Len(t, revs, 3)
	assert.Equal(t, []int{6, 5, 4}, []int{revs[0].Revision, revs[1].Revision, revs[2].Revision})
	_, err = s.Revision(acct, b.SID, 3)
	assert.ErrorIs(t, err, store.ErrPruned)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.RestoreRevision(acct, b.SID, 1, 0)
	assert.ErrorIs(t, err, store.ErrPruned)

	a, err := s.Account(acct)
	require.NoError(t, err)
	assert.Equal(t, int64(4+5+6), a.TemplateBytes, "the bytes of the kept revisions")
	resp, err := client(t, endpoints).Get(ctx(t), prefix+dirRevisions, clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	assert.Equal(t, int64(3), resp.Count, "revision keys in etcd")
}

func TestQuotas(t *testing.T) {
	s, _, _ := shared(t, store.Options{FlushInterval: time.Hour, MaxBinsPerAccount: 2, MaxBytesPerAccount: 100})
	acct := newAccount(t, s)
	b := newBin(t, s, acct, "one")
	newBin(t, s, acct, "two")
	_, err := s.CreateBin(acct, store.BinInput{FriendlyName: "three", RenderPolicy: "lenient"})
	var qe *store.QuotaError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "bins", qe.Quota)
	assert.ErrorIs(t, err, store.ErrQuota)

	_, err = s.UpdateBin(acct, b.SID, 0, store.BinInput{Template: strings.Repeat("x", 100), RenderPolicy: "lenient"})
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "bytes", qe.Quota)
	require.NoError(t, s.DeleteBin(acct, b.SID, 0))
	newBin(t, s, acct, "three")
}

func TestListBins(t *testing.T) {
	s, _, _ := shared(t, testOptions)
	alice, bob := newAccount(t, s), newAccount(t, s)
	var want []store.Bin
	for i := range 7 {
		want = append(want, newBin(t, s, alice, fmt.Sprintf("alice %d", i)))
		if i%2 == 0 {
			newBin(t, s, bob, fmt.Sprintf("bob %d", i))
		}
	}
	for _, size := range []int{1, 2, 100} {
		var got []store.Bin
		token := ""
		for {
			page, err := s.ListBins(alice, store.ListQuery{Templates: true, PageSize: size, PageToken: token})
			require.NoError(t, err)
			assert.LessOrEqual(t, len(page.Bins), size)
			got = append(got, page.Bins...)
			if page.Next == "" {
				break
			}
			token = page.Next
		}
		assert.Equal(t, want, got, "page size %d", size)
	}
	for _, token := range []string{"!!!", base64.RawURLEncoding.EncodeToString([]byte("short")), base64.RawURLEncoding.EncodeToString([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})} {
		_, err := s.ListBins(alice, store.ListQuery{PageToken: token})
		assert.ErrorIs(t, err, store.ErrBadPageToken, "%q", token)
	}
	_, err := s.ListBins("AC00000000000000000000000000000000", store.ListQuery{})
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func TestUsageAndEvents(t *testing.T) {
	s, endpoints, prefix := shared(t, store.Options{FlushInterval: time.Hour, EventLimit: 3})
	acct := newAccount(t, s)
	b := newBin(t, s, acct, "busy")
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	c := s.Counter(b.SID)
	for i := range 10 {
		s.Count(c, at.Add(time.Duration(i)*time.Second))
	}
	got, err := s.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(10), got.NumRequests, "before the flush")
	assert.Equal(t, at.Add(9*time.Second), got.DateLastAccessed)
	for i := range 5 {
		s.AddEvent(b.SID, store.Event{Code: strconv.Itoa(i)})
	}
	events, err := s.Events(acct, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"4", "3", "2"}, eventCodes(events), "before the flush")

	require.NoError(t, s.Flush())
	got, err = s.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(10), got.NumRequests, "after the flush")
	events, err = s.Events(acct, b.SID, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"4", "3", "2"}, eventCodes(events), "after the flush")

	cli := client(t, endpoints)
	resp, err := cli.Get(ctx(t), prefix+dirUsage+b.SID)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	var u usageRecord
	require.NoError(t, decode("", resp.Kvs[0].Value, &u))
	assert.Equal(t, int64(10), u.Requests)

	for i := 5; i < 9; i++ {
		s.AddEvent(b.SID, store.Event{Code: strconv.Itoa(i)})
	}
	require.NoError(t, s.Flush())
	stored, err := cli.Get(ctx(t), prefix+dirEvents+b.SID+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	assert.Equal(t, int64(3), stored.Count, "the log is trimmed to EventLimit")
	events, err = s.Events(acct, b.SID, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"8", "7"}, eventCodes(events))

	stale := s.Counter(b.SID)
	require.NoError(t, s.DeleteBin(acct, b.SID, 0))
	s.Count(stale, time.Time{})
	s.RecordRequest(unknownBin, time.Time{})
	assert.Zero(t, s.Stats().PendingUsageBlocks, "a deleted bin's Counter counts nothing")
	gone, err := cli.Get(ctx(t), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	// What is left: the version, the session key, the account and its quota.
	assert.Equal(t, int64(4), gone.Count, "keys under the prefix after the delete")
}

func eventCodes(events []store.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Code)
	}
	return out
}

// TestSchemaVersion: Open writes the version, refuses a newer one, and
// runs the migrations the data has not had, recording each version.
func TestSchemaVersion(t *testing.T) {
	endpoints, prefix := etcdtest.Shared(t).Endpoints, etcdtest.Prefix(t)
	cli := client(t, endpoints)
	k := keys{prefix}
	var ran []int
	migs := []migration{
		func(context.Context, clientv3.KV, keys) error { ran = append(ran, 2); return nil },
		func(context.Context, clientv3.KV, keys) error { ran = append(ran, 3); return nil },
	}
	_, err := cli.Put(ctx(t), k.version(), "1")
	require.NoError(t, err)
	require.NoError(t, setup(ctx(t), cli, k, migs))
	assert.Equal(t, []int{2, 3}, ran)
	resp, err := cli.Get(ctx(t), k.version())
	require.NoError(t, err)
	assert.Equal(t, "3", string(resp.Kvs[0].Value))
	require.NoError(t, setup(ctx(t), cli, k, migs))
	assert.Equal(t, []int{2, 3}, ran, "nothing runs twice")

	// This program's version is 1: data at 3 is a newer twimlbin's.
	_, err = Open(context.Background(), Config{Endpoints: endpoints, Prefix: prefix})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer")

	fresh := etcdtest.Prefix(t)
	node(t, endpoints, fresh, testOptions)
	resp, err = cli.Get(ctx(t), fresh+keyVersion)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(schemaVersion()), string(resp.Kvs[0].Value))
}

func TestOpenBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Endpoints: []string{"http://127.0.0.1:1"}, Prefix: "/no-slash"},
		{Endpoints: []string{"http://127.0.0.1:1"}, Options: store.Options{ReadOnly: true}},
	} {
		_, err := Open(context.Background(), cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}

// TestErrorKinds: etcd's errors for a cluster out of reach or out of
// space wrap the store's sentinels.
func TestErrorKinds(t *testing.T) {
	s := &Store{cfg: Config{Endpoints: []string{"http://127.0.0.1:1"}, RequestTimeout: time.Second}}
	for _, err := range []error{context.DeadlineExceeded, rpctypes.ErrNoLeader, rpctypes.ErrGRPCNoLeader, rpctypes.ErrTimeout, clientv3.ErrNoAvailableEndpoints} {
		assert.ErrorIs(t, s.failure("op", err), store.ErrUnavailable, "%v", err)
	}
	for _, err := range []error{rpctypes.ErrNoSpace, rpctypes.ErrGRPCNoSpace} {
		got := s.failure("op", err)
		assert.ErrorIs(t, got, store.ErrNoSpace, "%v", err)
		assert.NotErrorIs(t, got, store.ErrUnavailable)
	}
	other := errors.New("something else")
	assert.ErrorIs(t, s.failure("op", other), other)
	assert.NotErrorIs(t, s.failure("op", other), store.ErrUnavailable)
	assert.ErrorIs(t, s.failure("op", fmt.Errorf("bin x: %w", store.ErrNotFound)), store.ErrNotFound)
}
