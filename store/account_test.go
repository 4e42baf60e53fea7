package store

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-f]{32}$`)
	binSIDPattern     = regexp.MustCompile(`^EH[0-9a-f]{32}$`)
	tokenPattern      = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func TestCreateAccount(t *testing.T) {
	db := openTest(t)
	acct, token, err := db.CreateAccount("Ops")
	require.NoError(t, err)
	assert.Regexp(t, accountSIDPattern, acct.SID)
	assert.Regexp(t, tokenPattern, token)
	assert.Equal(t, "Ops", acct.FriendlyName)
	assert.False(t, acct.TwilioAuthTokenSet)
	assert.False(t, acct.DateCreated.IsZero())
	assert.Equal(t, acct.DateCreated, acct.DateUpdated)

	other, otherToken, err := db.CreateAccount("")
	require.NoError(t, err)
	assert.NotEqual(t, acct.SID, other.SID)
	assert.NotEqual(t, token, otherToken)

	n, err := db.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	got, err := db.Account(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, acct, got)
}

func TestCountAccountsEmpty(t *testing.T) {
	db := openTest(t)
	n, err := db.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 0, n)
}

func TestAccountNotFound(t *testing.T) {
	db := openTest(t)
	for _, sid := range []string{"", "AC00000000000000000000000000000000", "not a sid"} {
		_, err := db.Account(sid)
		assert.ErrorIs(t, err, ErrNotFound, "%q", sid)
	}
}

func TestAuthenticate(t *testing.T) {
	db := openTest(t)
	acct, token, err := db.CreateAccount("a")
	require.NoError(t, err)
	other, otherToken, err := db.CreateAccount("b")
	require.NoError(t, err)

	got, err := db.Authenticate(acct.SID, token)
	require.NoError(t, err)
	assert.Equal(t, acct, got)
	got, err = db.Authenticate(other.SID, otherToken)
	require.NoError(t, err)
	assert.Equal(t, other, got)

	for _, tc := range []struct{ name, sid, token string }{
		{"wrong token", acct.SID, "00000000000000000000000000000000"},
		{"another account's token", acct.SID, otherToken},
		{"empty token", acct.SID, ""},
		{"token in upper case", acct.SID, string(bytes.ToUpper([]byte(token)))},
		{"unknown SID", "AC00000000000000000000000000000000", token},
		{"empty SID", "", token},
		{"both empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Authenticate(tc.sid, tc.token)
			assert.ErrorIs(t, err, ErrUnauthorized)
			assert.Equal(t, Account{}, got)
		})
	}
}

func TestAuthTokenStoredOnlyAsHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	db, err := Open(path, testOptions)
	require.NoError(t, err)
	acct, token, err := db.CreateAccount("a")
	require.NoError(t, err)
	rotated, err := db.RotateAuthToken(acct.SID)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.False(t, bytes.Contains(raw, []byte(token)), "the first token is in the file")
	assert.False(t, bytes.Contains(raw, []byte(rotated)), "the rotated token is in the file")
	assert.True(t, bytes.Contains(raw, []byte(acct.SID)), "the file holds the account")
}

func TestUpdateAccount(t *testing.T) {
	db := openTest(t)
	acct, _, err := db.CreateAccount("old")
	require.NoError(t, err)

	got, err := db.UpdateAccount(acct.SID, nil)
	require.NoError(t, err)
	assert.Equal(t, "old", got.FriendlyName, "nil changes nothing")

	name := "new"
	got, err = db.UpdateAccount(acct.SID, &name)
	require.NoError(t, err)
	assert.Equal(t, "new", got.FriendlyName)
	assert.Equal(t, acct.DateCreated, got.DateCreated)
	assert.False(t, got.DateUpdated.Before(acct.DateUpdated))
	read, err := db.Account(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, got, read)

	_, err = db.UpdateAccount("AC00000000000000000000000000000000", &name)
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestTwilioAuthToken(t *testing.T) {
	db := openTest(t)
	acct, token, err := db.CreateAccount("a")
	require.NoError(t, err)

	got, err := db.TwilioAuthToken(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, "", got, "none at first")

	updated, err := db.SetTwilioAuthToken(acct.SID, "12345")
	require.NoError(t, err)
	assert.True(t, updated.TwilioAuthTokenSet)
	got, err = db.TwilioAuthToken(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, "12345", got)
	read, err := db.Account(acct.SID)
	require.NoError(t, err)
	assert.True(t, read.TwilioAuthTokenSet)
	authed, err := db.Authenticate(acct.SID, token)
	require.NoError(t, err, "the account's own token still works")
	assert.True(t, authed.TwilioAuthTokenSet)

	cleared, err := db.SetTwilioAuthToken(acct.SID, "")
	require.NoError(t, err)
	assert.False(t, cleared.TwilioAuthTokenSet)
	got, err = db.TwilioAuthToken(acct.SID)
	require.NoError(t, err)
	assert.Equal(t, "", got)

	_, err = db.SetTwilioAuthToken("AC00000000000000000000000000000000", "x")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = db.TwilioAuthToken("AC00000000000000000000000000000000")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestRotateAuthToken(t *testing.T) {
	db := openTest(t)
	acct, old, err := db.CreateAccount("a")
	require.NoError(t, err)

	token, err := db.RotateAuthToken(acct.SID)
	require.NoError(t, err)
	assert.Regexp(t, tokenPattern, token)
	assert.NotEqual(t, old, token)

	_, err = db.Authenticate(acct.SID, old)
	assert.ErrorIs(t, err, ErrUnauthorized, "the old token stopped working")
	_, err = db.Authenticate(acct.SID, token)
	assert.NoError(t, err, "the new token works")

	_, err = db.RotateAuthToken("AC00000000000000000000000000000000")
	assert.ErrorIs(t, err, ErrNotFound)
}

// TestCreateFirstAccount: of many callers at once on an empty store,
// exactly one creates the account; on a store holding one, none does.
func TestCreateFirstAccount(t *testing.T) {
	db := openTest(t)
	var created atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			acct, token, ok, err := db.CreateFirstAccount("Owner")
			assert.NoError(t, err)
			if ok {
				created.Add(1)
				_, err := db.Authenticate(acct.SID, token)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), created.Load())
	n, err := db.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
