package store

import (
	"encoding/base64"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

const unknownBin = "EH00000000000000000000000000000000"

// TestDeleteBinLeavesNoTrace: once a bin is deleted, no bucket holds a
// key or a value naming it: not its revisions, its usage counters or its
// events, flushed or buffered when it was deleted, nor counts recorded
// after the delete and flushed since.
func TestDeleteBinLeavesNoTrace(t *testing.T) {
	db := openTest(t)
	alice, _ := newAccount(t, db)
	newBin(t, db, alice, "keep")
	b := newBin(t, db, alice, "doomed")
	_, err := db.UpdateBin(alice, b.SID, 0, BinInput{FriendlyName: "doomed v2", RenderPolicy: RenderPolicyLenient})
	require.NoError(t, err)
	db.RecordRequest(b.SID, time.Time{})
	db.AddEvent(b.SID, Event{Code: "flushed"})
	require.NoError(t, db.Flush())
	db.RecordRequest(b.SID, time.Time{})
	db.AddEvent(b.SID, Event{Code: "buffered"})
	require.NoError(t, db.DeleteBin(alice, b.SID, 2))

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

// TestListBinsBadPageTokenFormat: a page token in the alphabet of the
// ones ListBins makes (unpadded base64url) that does not hold a creation
// sequence it could have made is ErrBadPageToken. Tokens outside the
// alphabet are in the conformance suite.
func TestListBinsBadPageTokenFormat(t *testing.T) {
	db := openTest(t)
	alice, _ := newAccount(t, db)
	for _, name := range []string{"a", "b", "c"} {
		newBin(t, db, alice, name)
	}
	for _, token := range []string{
		base64.RawURLEncoding.EncodeToString([]byte("short")),
		"AAAAAAAAAAAAAAAAAAAAAA", // 16 bytes
		base64.RawURLEncoding.EncodeToString(u64(math.MaxUint64)),
	} {
		_, err := db.ListBins(alice, ListQuery{Templates: true, PageSize: 2, PageToken: token})
		assert.ErrorIs(t, err, ErrBadPageToken, "%q", token)
	}
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
