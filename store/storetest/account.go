package storetest

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

func testCreateAccount(t *testing.T, e *env) {
	s := e.open(options)
	acct, token, err := s.CreateAccount("Ops")
	require.NoError(t, err)
	assert.Regexp(t, accountSIDPattern, acct.SID)
	assert.Regexp(t, tokenPattern, token)
	assert.Equal(t, "Ops", acct.FriendlyName)
	assert.False(t, acct.TwilioAuthTokenSet)
	assert.False(t, acct.DateCreated.IsZero())
	assert.Equal(t, acct.DateCreated, acct.DateUpdated)

	other, otherToken, err := s.CreateAccount("")
	require.NoError(t, err)
	assert.NotEqual(t, acct.SID, other.SID)
	assert.NotEqual(t, token, otherToken)

	n, err := s.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	got, err := s.Account(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, acct, got)
}

// testCreateFirstAccount: of many callers at once on an empty store, and
// on two stores of one storage where the backend allows it (nodes
// starting together), exactly one creates the account; once one exists,
// none does.
func testCreateFirstAccount(t *testing.T, e *env) {
	stores := []store.Store{e.open(options)}
	if e.backend.Shared {
		stores = append(stores, e.open(options))
	}
	var created atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		s := stores[i%len(stores)]
		wg.Go(func() {
			acct, token, ok, err := s.CreateFirstAccount("Owner")
			assert.NoError(t, err)
			if ok {
				created.Add(1)
				_, err := s.Authenticate(acct.SID, token)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), created.Load())
	_, _, ok, err := stores[0].CreateFirstAccount("Owner")
	require.NoError(t, err)
	assert.False(t, ok, "a store holding an account")
	n, err := stores[0].CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func testCountAccountsEmpty(t *testing.T, e *env) {
	s := e.open(options)
	n, err := s.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 0, n)
}

func testAccountNotFound(t *testing.T, e *env) {
	s := e.open(options)
	for _, sid := range []string{"", unknownAccount, "not a sid"} {
		_, err := s.Account(sid)
		assert.ErrorIs(t, err, store.ErrNotFound, "%q", sid)
	}
}

func testAuthenticate(t *testing.T, e *env) {
	s := e.open(options)
	acct, token, err := s.CreateAccount("a")
	require.NoError(t, err)
	other, otherToken, err := s.CreateAccount("b")
	require.NoError(t, err)

	got, err := s.Authenticate(acct.SID, token)
	require.NoError(t, err)
	assert.Equal(t, acct, got)
	got, err = s.Authenticate(other.SID, otherToken)
	require.NoError(t, err)
	assert.Equal(t, other, got)

	for _, tc := range []struct{ name, sid, token string }{
		{"wrong token", acct.SID, "00000000000000000000000000000000"},
		{"another account's token", acct.SID, otherToken},
		{"empty token", acct.SID, ""},
		{"token in upper case", acct.SID, string(bytes.ToUpper([]byte(token)))},
		{"unknown SID", unknownAccount, token},
		{"empty SID", "", token},
		{"both empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Authenticate(tc.sid, tc.token)
			assert.ErrorIs(t, err, store.ErrUnauthorized)
			assert.Equal(t, store.Account{}, got)
		})
	}
}

func testUpdateAccount(t *testing.T, e *env) {
	s := e.open(options)
	acct, _, err := s.CreateAccount("old")
	require.NoError(t, err)

	got, err := s.UpdateAccount(acct.SID, nil)
	require.NoError(t, err)
	assert.Equal(t, "old", got.FriendlyName, "nil changes nothing")

	name := "new"
	got, err = s.UpdateAccount(acct.SID, &name)
	require.NoError(t, err)
	assert.Equal(t, "new", got.FriendlyName)
	assert.Equal(t, acct.DateCreated, got.DateCreated)
	assert.False(t, got.DateUpdated.Before(acct.DateUpdated))
	read, err := s.Account(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, got, read)

	_, err = s.UpdateAccount(unknownAccount, &name)
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func testTwilioAuthToken(t *testing.T, e *env) {
	s := e.open(options)
	acct, token, err := s.CreateAccount("a")
	require.NoError(t, err)

	got, err := s.TwilioAuthToken(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, "", got, "none at first")

	updated, err := s.SetTwilioAuthToken(acct.SID, "12345")
	require.NoError(t, err)
	assert.True(t, updated.TwilioAuthTokenSet)
	got, err = s.TwilioAuthToken(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, "12345", got)
	read, err := s.Account(acct.SID)
	require.NoError(t, err)
	assert.True(t, read.TwilioAuthTokenSet)
	authed, err := s.Authenticate(acct.SID, token)
	require.NoError(t, err, "the account's own token still works")
	assert.True(t, authed.TwilioAuthTokenSet)

	cleared, err := s.SetTwilioAuthToken(acct.SID, "")
	require.NoError(t, err)
	assert.False(t, cleared.TwilioAuthTokenSet)
	got, err = s.TwilioAuthToken(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, "", got)

	_, err = s.SetTwilioAuthToken(unknownAccount, "x")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.TwilioAuthToken(unknownAccount)
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func testRotateAuthToken(t *testing.T, e *env) {
	s := e.open(options)
	acct, old, err := s.CreateAccount("a")
	require.NoError(t, err)

	token, err := s.RotateAuthToken(acct.SID)
	require.NoError(t, err)
	assert.Regexp(t, tokenPattern, token)
	assert.NotEqual(t, old, token)

	_, err = s.Authenticate(acct.SID, old)
	assert.ErrorIs(t, err, store.ErrUnauthorized, "the old token stopped working")
	_, err = s.Authenticate(acct.SID, token)
	assert.NoError(t, err, "the new token works")

	_, err = s.RotateAuthToken(unknownAccount)
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// testSessionEpoch: ending the sessions of an account, and rotating its
// auth token, move its session epoch on; a new name does not.
func testSessionEpoch(t *testing.T, e *env) {
	s := e.open(options)
	sid, _ := newAccount(t, s)
	acct, err := s.Account(sid)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), acct.SessionEpoch)

	ended, err := s.EndSessions(sid)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), ended.SessionEpoch)
	_, err = s.RotateAuthToken(sid)
	require.NoError(t, err)
	acct, err = s.Account(sid)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), acct.SessionEpoch, "rotating the auth token ends the sessions too")
	_, err = s.UpdateAccount(sid, new("Renamed"))
	require.NoError(t, err)
	acct, err = s.Account(sid)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), acct.SessionEpoch, "a new name keeps the sessions")

	_, err = s.EndSessions(unknownAccount)
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// testSessionKeyIsKept: the session key is made once and kept across a
// restart.
func testSessionKeyIsKept(t *testing.T, e *env) {
	s := e.open(options)
	first, err := s.SessionKey()
	require.NoError(t, err)
	assert.Len(t, first, 32)

	s = e.reopen(s, options)
	again, err := s.SessionKey()
	require.NoError(t, err)
	assert.Equal(t, first, again, "a restart keeps the key")
	again[0] ^= 0xff
	kept, err := s.SessionKey()
	require.NoError(t, err)
	assert.Equal(t, first, kept, "the caller's copy is its own")
}

// testFriendlyNameErrors: every write of a friendly name takes the one
// rule of store.CheckFriendlyName, and a name it refuses saves nothing.
func testFriendlyNameErrors(t *testing.T, e *env) {
	s := e.open(options)
	sid, _ := newAccount(t, s)
	bad := "line\nbreak"
	refused := func(what string, err error) {
		t.Helper()
		assert.ErrorIs(t, err, store.ErrBadFriendlyName, what)
		var fe *store.FriendlyNameError
		assert.ErrorAs(t, err, &fe, "%s: the API shows what is wrong from a *FriendlyNameError", what)
	}
	_, _, err := s.CreateAccount(bad)
	refused("create account", err)
	_, err = s.UpdateAccount(sid, &bad)
	refused("update account", err)
	_, err = s.CreateBin(sid, store.BinInput{FriendlyName: bad, Template: "<Response/>", RenderPolicy: "lenient"})
	refused("create bin", err)
	b := newBin(t, s, sid, "fine")
	_, err = s.UpdateBin(sid, b.SID, 0, store.BinInput{FriendlyName: bad, Template: "<Response/>", RenderPolicy: "lenient"})
	refused("update bin", err)

	n, err := s.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	got, err := s.Account(sid)
	require.NoError(t, err)
	assert.Equal(t, "test", got.FriendlyName, "the account keeps its name")
	assert.Equal(t, 1, got.Bins, "no bin was created")
	read, err := s.Bin(sid, b.SID)
	require.NoError(t, err)
	assert.Equal(t, b, read, "the bin was not updated")
}
