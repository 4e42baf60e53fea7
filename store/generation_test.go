package store

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGenerationGrowsWithEveryWrite: each write of a bin or an account
// grows its generation before the writing method returns.
func TestGenerationGrowsWithEveryWrite(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	// written runs a write and checks that it moved sid's generation.
	written := func(what, sid string, write func() error) {
		t.Helper()
		before := db.Generation(sid)
		require.NoError(t, write(), what)
		assert.Greater(t, db.Generation(sid), before, what)
	}

	b := newBin(t, db, acct, "one")
	assert.NotZero(t, db.Generation(b.SID), "create")
	assert.NotZero(t, db.Generation(acct), "create account")
	in := BinInput{FriendlyName: "two", Template: "<Response/>", RenderPolicy: "strict"}
	written("update", b.SID, func() error { _, err := db.UpdateBin(acct, b.SID, 0, in); return err })
	written("restore", b.SID, func() error { _, err := db.RestoreRevision(acct, b.SID, 1, 0); return err })
	written("set Twilio token", acct, func() error { _, err := db.SetTwilioAuthToken(acct, "secret"); return err })
	written("clear Twilio token", acct, func() error { _, err := db.SetTwilioAuthToken(acct, ""); return err })
	name := "renamed"
	written("rename account", acct, func() error { _, err := db.UpdateAccount(acct, &name); return err })
	written("rotate auth token", acct, func() error { _, err := db.RotateAuthToken(acct); return err })
	written("delete", b.SID, func() error { return db.DeleteBin(acct, b.SID, 0) })

	// Reads, usage and events are not writes of the bin.
	c := newBin(t, db, acct, "three")
	gen := db.Generation(c.SID)
	_, err := db.BinBySID(c.SID)
	require.NoError(t, err)
	db.RecordRequest(c.SID, now())
	db.AddEvent(c.SID, Event{Severity: "warning", Code: "TB1", Message: "m"})
	require.NoError(t, db.Flush())
	assert.Equal(t, gen, db.Generation(c.SID), "reads and usage")
}

// TestGenerationConcurrent: generations read while writers run, under
// -race, and each writer's bin ends up as many generations ahead as it
// was written.
func TestGenerationConcurrent(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	bins := []Bin{newBin(t, db, acct, "a"), newBin(t, db, acct, "b"), newBin(t, db, acct, "c")}
	before := make([]uint64, len(bins))
	for i, b := range bins {
		before[i] = db.Generation(b.SID)
	}
	const writes = 20
	var wg sync.WaitGroup
	for _, b := range bins {
		wg.Go(func() {
			for range writes {
				_, err := db.UpdateBin(acct, b.SID, 0, BinInput{Template: "<Response/>", RenderPolicy: "strict"})
				assert.NoError(t, err)
			}
		})
		wg.Go(func() {
			for range writes {
				_ = db.Generation(b.SID)
			}
		})
	}
	wg.Wait()
	for i, b := range bins {
		// Bins may share a counter, so at least as many.
		assert.GreaterOrEqual(t, db.Generation(b.SID)-before[i], uint64(writes), b.SID)
	}
}
