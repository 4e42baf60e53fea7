package store

import (
	"path/filepath"
	"strings"
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

// TestFriendlyNameRule: every write of a friendly name takes the one rule,
// and a bin named under older rules can still be changed and restored.
func TestFriendlyNameRule(t *testing.T) {
	for name, want := range map[string]string{
		"":                      "",
		"Main line":             "",
		"Café ☎ 日本語 🎉":          "",
		strings.Repeat("é", 64): "",
		strings.Repeat("é", 65): "is 65 characters long; the limit is 64",
		"a\x00b":                "holds a NUL (U+0000) at character 2",
		"é\tb":                  "holds a tab (U+0009) at character 2",
		"ab\r\n":                "holds a carriage return (U+000D) at character 3",
		"\x1b[0m":               "holds an escape (U+001B) at character 1",
		"a\u0085":               "holds a control character (U+0085) at character 2",
		"a\u2028":               "holds a line separator (U+2028) at character 2",
		"ab\xff":                "is not UTF-8 text: byte 3 is not part of a character",
	} {
		err := CheckFriendlyName(name)
		if want == "" {
			assert.NoError(t, err, "%q", name)
			continue
		}
		var fe *FriendlyNameError
		require.ErrorAs(t, err, &fe, "%q", name)
		assert.ErrorIs(t, err, ErrBadFriendlyName)
		assert.Contains(t, fe.Problem, want)
	}

	db := openTest(t)
	sid, _ := newAccount(t, db)
	bad := "line\nbreak"
	_, _, err := db.CreateAccount(bad)
	assert.ErrorIs(t, err, ErrBadFriendlyName)
	_, err = db.UpdateAccount(sid, &bad)
	assert.ErrorIs(t, err, ErrBadFriendlyName)
	_, err = db.CreateBin(sid, BinInput{FriendlyName: bad, Template: "<Response/>", RenderPolicy: "lenient"})
	assert.ErrorIs(t, err, ErrBadFriendlyName)
	b := newBin(t, db, sid, "fine")
	_, err = db.UpdateBin(sid, b.SID, 0, BinInput{FriendlyName: bad, Template: "<Response/>", RenderPolicy: "lenient"})
	assert.ErrorIs(t, err, ErrBadFriendlyName)
	n, err := db.CountAccounts()
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	// A name stored before the rule.
	require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
		rec, err := findBin(tx, sid, b.SID)
		if err != nil {
			return err
		}
		rec.FriendlyName = bad
		return putBin(tx, rec)
	}))
	updated, err := db.UpdateBin(sid, b.SID, 0, BinInput{FriendlyName: bad, Template: "<Response><Hangup/></Response>", RenderPolicy: "lenient"})
	require.NoError(t, err, "the name it has is kept")
	restored, err := db.RestoreRevision(sid, b.SID, 1, updated.Revision)
	require.NoError(t, err, "an old revision is restored as it was")
	assert.Equal(t, bad, restored.FriendlyName)
}
