package store

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// TestSessionEpoch: ending the sessions of an account, and rotating its
// auth token, move its session epoch on; a record written before the
// epoch existed reads as 0.
func TestSessionEpoch(t *testing.T) {
	db := openTest(t)
	sid, _ := newAccount(t, db)
	acct, err := db.Account(sid)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), acct.SessionEpoch)

	ended, err := db.EndSessions(sid)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), ended.SessionEpoch)
	_, err = db.RotateAuthToken(sid)
	require.NoError(t, err)
	acct, err = db.Account(sid)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), acct.SessionEpoch, "rotating the auth token ends the sessions too")
	_, err = db.UpdateAccount(sid, new("Renamed"))
	require.NoError(t, err)
	acct, err = db.Account(sid)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), acct.SessionEpoch, "a new name keeps the sessions")

	_, err = db.EndSessions("AC00000000000000000000000000000000")
	assert.ErrorIs(t, err, ErrNotFound)

	// A record of an older twimlbin has no session_epoch.
	require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketAccounts).Put([]byte(sid), []byte(`{"sid":"`+sid+`","friendly_name":"Old","auth_token_sha256":null,"date_created":"2024-01-01T00:00:00Z","date_updated":"2024-01-01T00:00:00Z"}`))
	}))
	acct, err = db.Account(sid)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), acct.SessionEpoch)
}

// TestSessionKeyIsKept: the session key is made once and kept in the file.
func TestSessionKeyIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	db, err := Open(path, testOptions)
	require.NoError(t, err)
	first, err := db.SessionKey()
	require.NoError(t, err)
	assert.Len(t, first, 32)
	require.NoError(t, db.Close())

	db, err = Open(path, testOptions)
	require.NoError(t, err)
	again, err := db.SessionKey()
	require.NoError(t, err)
	assert.Equal(t, first, again, "a restart keeps the key")
	again[0] ^= 0xff
	kept, err := db.SessionKey()
	require.NoError(t, err)
	assert.Equal(t, first, kept, "the caller's copy is its own")

	// A file from before the key, opened read-only, has none.
	require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete(keySessionKey)
	}))
	require.NoError(t, db.Close())
	ro := openTestWith(t, path, Options{ReadOnly: true})
	_, err = ro.SessionKey()
	assert.ErrorIs(t, err, ErrNotFound)
}
