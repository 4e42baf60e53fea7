package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

// testGenerationGrowsWithEveryWrite: each write of a bin or an account
// grows its generation before the writing method returns; reads, usage
// and events do not.
func testGenerationGrowsWithEveryWrite(t *testing.T, e *env) {
	s := e.open(options)
	acct, _ := newAccount(t, s)
	// written runs a write and checks that it moved sid's generation.
	written := func(what, sid string, write func() error) {
		t.Helper()
		before := s.Generation(sid)
		require.NoError(t, write(), what)
		assert.Greater(t, s.Generation(sid), before, what)
	}

	b := newBin(t, s, acct, "one")
	assert.NotZero(t, s.Generation(b.SID), "create")
	assert.NotZero(t, s.Generation(acct), "create account")
	in := store.BinInput{FriendlyName: "two", Template: "<Response/>", RenderPolicy: "strict"}
	written("update", b.SID, func() error { _, err := s.UpdateBin(acct, b.SID, 0, in); return err })
	written("restore", b.SID, func() error { _, err := s.RestoreRevision(acct, b.SID, 1, 0); return err })
	written("set Twilio token", acct, func() error { _, err := s.SetTwilioAuthToken(acct, "secret"); return err })
	written("clear Twilio token", acct, func() error { _, err := s.SetTwilioAuthToken(acct, ""); return err })
	name := "renamed"
	written("rename account", acct, func() error { _, err := s.UpdateAccount(acct, &name); return err })
	written("rotate auth token", acct, func() error { _, err := s.RotateAuthToken(acct); return err })
	written("end sessions", acct, func() error { _, err := s.EndSessions(acct); return err })
	written("delete", b.SID, func() error { return s.DeleteBin(acct, b.SID, 0) })

	// Reads, usage and events are not writes of the bin.
	c := newBin(t, s, acct, "three")
	gen := s.Generation(c.SID)
	_, err := s.BinBySID(c.SID)
	require.NoError(t, err)
	s.RecordRequest(c.SID, time.Now())
	s.AddEvent(c.SID, store.Event{Severity: "warning", Code: "TB1", Message: "m"})
	require.NoError(t, s.Flush())
	assert.Equal(t, gen, s.Generation(c.SID), "reads and usage")
}

// testGenerationConcurrent: generations read while writers run (under
// -race), and each writer's bin ends up as many generations ahead as it
// was written.
func testGenerationConcurrent(t *testing.T, e *env) {
	s := e.open(options)
	acct, _ := newAccount(t, s)
	bins := []store.Bin{newBin(t, s, acct, "a"), newBin(t, s, acct, "b"), newBin(t, s, acct, "c")}
	before := make([]uint64, len(bins))
	for i, b := range bins {
		before[i] = s.Generation(b.SID)
	}
	const writes = 20
	var wg sync.WaitGroup
	for _, b := range bins {
		wg.Go(func() {
			for range writes {
				_, err := s.UpdateBin(acct, b.SID, 0, store.BinInput{Template: "<Response/>", RenderPolicy: "strict"})
				assert.NoError(t, err)
			}
		})
		wg.Go(func() {
			for range writes {
				_ = s.Generation(b.SID)
			}
		})
	}
	wg.Wait()
	for i, b := range bins {
		// Bins may share a counter, so at least as many.
		assert.GreaterOrEqual(t, s.Generation(b.SID)-before[i], uint64(writes), b.SID)
	}
}

// How long a write may take to reach another Store on the same storage,
// and how often the tests look. The bound is generous: it only ends a
// test that would otherwise wait for ever.
const (
	propagationBound = 30 * time.Second
	pollInterval     = 5 * time.Millisecond
)

// testSecondStoreSeesWrites: two Stores on the same storage, as two nodes,
// see each other's writes of bins and accounts, with Generation telling a
// caller that keeps what it reads when to read again; conditional writes
// are checked against what is stored, whichever Store made the last one;
// and both sign sessions with the same key.
func testSecondStoreSeesWrites(t *testing.T, e *env) {
	if !e.backend.Shared {
		t.Skip("the backend takes one store at a time on its storage (Backend.Shared is false)")
	}
	a, b := e.open(options), e.open(options)

	keyA, err := a.SessionKey()
	require.NoError(t, err)
	keyB, err := b.SessionKey()
	require.NoError(t, err)
	assert.Equal(t, keyA, keyB, "every node signs sessions with the same key")

	acct, token, err := a.CreateAccount("shared")
	require.NoError(t, err)
	eventually(t, "the account created on the first store", func() bool {
		_, err := b.Authenticate(acct.SID, token)
		return err == nil
	})
	bin := newBin(t, a, acct.SID, "shared")
	eventually(t, "the bin created on the first store", func() bool {
		got, err := b.BinBySID(bin.SID)
		return err == nil && got.Revision == 1
	})

	// An update on the first store reaches the second.
	v2in := store.BinInput{FriendlyName: "v2", Template: "<Response><Say>two</Say></Response>", RenderPolicy: "strict"}
	before := b.Generation(bin.SID)
	v2, err := a.UpdateBin(acct.SID, bin.SID, bin.Revision, v2in)
	require.NoError(t, err)
	awaitWrite(t, b, bin.SID, before, "revision 2, saved on the first store", func() bool {
		got, err := b.BinBySID(bin.SID)
		return err == nil && got.Revision == v2.Revision && got.Template == v2in.Template
	})

	// Each store checks ifRevision against what is stored.
	v3in := store.BinInput{FriendlyName: "v3", Template: "<Response><Say>three</Say></Response>", RenderPolicy: "strict"}
	_, err = b.UpdateBin(acct.SID, bin.SID, bin.Revision, v3in)
	assert.ErrorIs(t, err, store.ErrConflict, "the second store, with the revision the first one replaced")
	before = a.Generation(bin.SID)
	v3, err := b.UpdateBin(acct.SID, bin.SID, v2.Revision, v3in)
	require.NoError(t, err)
	assert.Equal(t, 3, v3.Revision)
	_, err = a.UpdateBin(acct.SID, bin.SID, v2.Revision, v2in)
	assert.ErrorIs(t, err, store.ErrConflict, "the first store, with the revision the second one replaced")
	awaitWrite(t, a, bin.SID, before, "revision 3, saved on the second store", func() bool {
		got, err := a.BinBySID(bin.SID)
		return err == nil && got.Revision == v3.Revision && got.Template == v3in.Template
	})

	// Account writes: the Twilio auth token that checks signatures, and
	// the auth token with the sessions it ends.
	before = b.Generation(acct.SID)
	_, err = a.SetTwilioAuthToken(acct.SID, "twilio-secret")
	require.NoError(t, err)
	awaitWrite(t, b, acct.SID, before, "the Twilio auth token set on the first store", func() bool {
		got, err := b.TwilioAuthToken(acct.SID)
		return err == nil && got == "twilio-secret"
	})
	before = b.Generation(acct.SID)
	rotated, err := a.RotateAuthToken(acct.SID)
	require.NoError(t, err)
	awaitWrite(t, b, acct.SID, before, "the auth token rotated on the first store", func() bool {
		_, oldErr := b.Authenticate(acct.SID, token)
		got, newErr := b.Authenticate(acct.SID, rotated)
		return errors.Is(oldErr, store.ErrUnauthorized) && newErr == nil && got.SessionEpoch == 1
	})

	// A delete on the second store reaches the first.
	before = a.Generation(bin.SID)
	require.NoError(t, b.DeleteBin(acct.SID, bin.SID, 0))
	awaitWrite(t, a, bin.SID, before, "the delete on the second store", func() bool {
		_, err := a.BinBySID(bin.SID)
		return errors.Is(err, store.ErrNotFound)
	})
}

// eventually polls cond until it holds, failing the test after
// propagationBound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(propagationBound)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("the other store does not show %s after %s", what, propagationBound)
		}
		<-tick.C
	}
}

// awaitWrite waits for a write, made on another Store, to reach s, the
// way a caller that keeps what it reads (the bin URL's cache) sees it:
// it reads the Generation of sid, then calls shows, which reads the
// record and reports whether the write is in it. It returns once the
// Generation is past before (read before the write) and shows holds.
// Until then the Generation must keep moving: one that stays the same
// after a read that did not show the write would have such a caller serve
// the old record for ever. It fails the test after propagationBound.
func awaitWrite(t *testing.T, s store.Store, sid string, before uint64, what string, shows func() bool) {
	t.Helper()
	deadline := time.Now().Add(propagationBound)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		gen := s.Generation(sid)
		if gen > before && shows() {
			return
		}
		for s.Generation(sid) == gen {
			if time.Now().After(deadline) {
				if gen == before {
					t.Fatalf("the Generation of %s on the other store stayed %d for %s after %s", sid, gen, propagationBound, what)
				}
				t.Fatalf("the other store does not show %s after %s, and the Generation of %s stayed %d since a read without it: a caller keeping what it read would serve the old record", what, propagationBound, sid, gen)
			}
			<-tick.C
		}
	}
}
