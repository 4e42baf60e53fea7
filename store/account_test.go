package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
