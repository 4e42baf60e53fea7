package etcdstore

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
)

// TestWriteServedByTheOtherNode: what one node writes, the other serves
// once its watch brings it, and its Generation has grown by then; the
// writer serves its own write at once.
func TestWriteServedByTheOtherNode(t *testing.T) {
	a, endpoints, prefix := shared(t, testOptions)
	b := node(t, endpoints, prefix, testOptions)

	acct, token, err := a.CreateAccount("shared")
	require.NoError(t, err)
	bin := newBin(t, a, acct.SID, "first")
	waitFor(t, "the other node serves the new bin", func() bool {
		_, err := b.BinBySID(bin.SID)
		return err == nil
	})
	got, err := b.Authenticate(acct.SID, token)
	require.NoError(t, err)
	assert.Equal(t, acct.SID, got.SID)

	before := b.Generation(bin.SID)
	updated, err := a.UpdateBin(acct.SID, bin.SID, 1, store.BinInput{FriendlyName: "second", Template: "<Response/>", RenderPolicy: "strict"})
	require.NoError(t, err)
	own, err := a.BinBySID(bin.SID)
	require.NoError(t, err)
	assert.Equal(t, updated, own, "the writer serves its own write on the next read")
	waitFor(t, "the other node serves the update", func() bool {
		got, err := b.BinBySID(bin.SID)
		return err == nil && got.Revision == 2
	})
	assert.Greater(t, b.Generation(bin.SID), before, "the other node's Generation grew")
	got2, err := b.Bin(acct.SID, bin.SID)
	require.NoError(t, err)
	assert.Equal(t, updated, got2)

	// An account written on the other node, and a conflict across nodes.
	accountGen := a.Generation(acct.SID)
	newToken, err := b.RotateAuthToken(acct.SID)
	require.NoError(t, err)
	waitFor(t, "the first node takes the new token", func() bool {
		_, err := a.Authenticate(acct.SID, newToken)
		return err == nil
	})
	assert.Greater(t, a.Generation(acct.SID), accountGen)
	_, err = b.UpdateBin(acct.SID, bin.SID, 1, store.BinInput{FriendlyName: "stale", RenderPolicy: "lenient"})
	assert.ErrorIs(t, err, store.ErrConflict, "revision 1 is no longer current, whichever node asks")

	key, err := a.SessionKey()
	require.NoError(t, err)
	other, err := b.SessionKey()
	require.NoError(t, err)
	assert.Equal(t, key, other, "one session key for every node")
	assert.Len(t, key, sessionKeySize)
}

// TestConcurrentFlushesAddUp: two nodes count requests to one bin and
// flush at the same moment, over and over: no node's flush overwrites the
// other's, and none is lost.
func TestConcurrentFlushesAddUp(t *testing.T) {
	a, endpoints, prefix := shared(t, testOptions)
	b := node(t, endpoints, prefix, testOptions)
	acct := newAccount(t, a)
	bin := newBin(t, a, acct, "busy")
	waitFor(t, "the other node knows the bin", func() bool {
		_, err := b.BinBySID(bin.SID)
		return err == nil
	})

	const rounds, perRound = 5, 200
	for range rounds {
		var wg sync.WaitGroup
		for _, n := range []*Store{a, b} {
			wg.Go(func() {
				c := n.Counter(bin.SID)
				for range perRound {
					n.Count(c, time.Time{})
				}
				assert.NoError(t, n.Flush())
			})
		}
		wg.Wait()
	}
	const total = 2 * rounds * perRound
	resp, err := client(t, endpoints).Get(ctx(t), prefix+dirUsage+bin.SID)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	var u usageRecord
	require.NoError(t, decode("", resp.Kvs[0].Value, &u))
	assert.Equal(t, int64(total), u.Requests, "requests in etcd")
	for name, n := range map[string]*Store{"a": a, "b": b} {
		waitFor(t, "node "+name+" reads every count", func() bool {
			got, err := n.BinBySID(bin.SID)
			return err == nil && got.NumRequests == total
		})
	}
}

// TestUsageReadWhileFlushing: a node's reads of a count never go back
// nor pass what was counted while its flushes and the other node's run,
// and the count ends exact.
func TestUsageReadWhileFlushing(t *testing.T) {
	a, endpoints, prefix := shared(t, testOptions)
	b := node(t, endpoints, prefix, testOptions)
	acct := newAccount(t, a)
	bin := newBin(t, a, acct, "hot")
	waitFor(t, "the other node knows the bin", func() bool {
		_, err := b.BinBySID(bin.SID)
		return err == nil
	})
	var counted sync.Mutex
	var recorded int64 // by a, under counted
	stop := make(chan struct{})
	var others sync.WaitGroup
	for _, n := range []*Store{a, b} {
		others.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					assert.NoError(t, n.Flush())
				}
			}
		})
	}
	others.Go(func() {
		var last int64
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := a.BinBySID(bin.SID)
			counted.Lock()
			ceiling := recorded
			counted.Unlock()
			if !assert.NoError(t, err) {
				return
			}
			if got.NumRequests < last || got.NumRequests > ceiling {
				assert.Failf(t, "inconsistent count", "read %d after %d, with %d counted", got.NumRequests, last, ceiling)
				return
			}
			last = got.NumRequests
		}
	})
	c := a.Counter(bin.SID)
	for range 2000 {
		counted.Lock()
		recorded++
		counted.Unlock()
		a.Count(c, time.Time{})
	}
	close(stop)
	others.Wait()
	require.NoError(t, a.Flush())
	got, err := a.BinBySID(bin.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(2000), got.NumRequests)
}

// TestDeletedBinStaysDeleted: a bin deleted on one node goes from the
// other, and nothing brings it back there: not its updates written
// before the delete, which the watch may bring after the delete.
func TestDeletedBinStaysDeleted(t *testing.T) {
	a, endpoints, prefix := shared(t, testOptions)
	b := node(t, endpoints, prefix, testOptions)
	acct := newAccount(t, a)
	bin := newBin(t, a, acct, "doomed")
	waitFor(t, "the other node knows the bin", func() bool {
		_, err := b.BinBySID(bin.SID)
		return err == nil
	})
	for i := range 5 {
		_, err := b.UpdateBin(acct, bin.SID, 0, store.BinInput{FriendlyName: "update", Template: string(rune('a' + i)), RenderPolicy: "lenient"})
		require.NoError(t, err)
	}
	require.NoError(t, a.DeleteBin(acct, bin.SID, 0))
	_, err := a.BinBySID(bin.SID)
	assert.ErrorIs(t, err, store.ErrNotFound, "gone on the deleting node at once")
	waitFor(t, "the other node lets the bin go", func() bool {
		_, err := b.BinBySID(bin.SID)
		return errors.Is(err, store.ErrNotFound)
	})
	// The watch has passed the delete once a later write is seen.
	marker := newBin(t, a, acct, "marker")
	waitFor(t, "the other node sees a later write", func() bool {
		_, err := b.BinBySID(marker.SID)
		return err == nil
	})
	for _, n := range []*Store{a, b} {
		_, err := n.BinBySID(bin.SID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		page, err := n.ListBins(acct, store.ListQuery{})
		require.NoError(t, err)
		require.Len(t, page.Bins, 1)
		assert.Equal(t, marker.SID, page.Bins[0].SID)
	}
}

// TestLateWriteAfterDelete plays what TestDeletedBinStaysDeleted can only
// hope to hit: the node's own delete is in memory before the watch brings
// an update written before it.
func TestLateWriteAfterDelete(t *testing.T) {
	s, _, _ := shared(t, testOptions)
	acct := newAccount(t, s)
	s.watcher.stop() // the watch brings nothing from here on, until the test does
	bin := newBin(t, s, acct, "late")
	updated, err := s.UpdateBin(acct, bin.SID, 0, store.BinInput{FriendlyName: "updated", RenderPolicy: "lenient"})
	require.NoError(t, err)
	s.mu.Lock()
	e := s.mem.bins[bin.SID]
	update := change{key: dirBins + bin.SID, createRev: e.createRev, modRev: e.modRev}
	s.mu.Unlock()
	rec := binRecord{AccountSID: acct, SID: bin.SID, FriendlyName: updated.FriendlyName, Revision: updated.Revision}
	update.value = []byte(encode(rec))

	require.NoError(t, s.DeleteBin(acct, bin.SID, 0))
	var changed, gone []string
	s.mu.Lock()
	s.apply([]change{update}, &changed, &gone)
	s.mu.Unlock()
	assert.Empty(t, changed, "an update older than the delete changes nothing")
	_, err = s.BinBySID(bin.SID)
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// TestWatchCompactedReloads: a node whose watch fell behind a compaction
// loads everything again and serves the latest, without a restart.
func TestWatchCompactedReloads(t *testing.T) {
	a, endpoints, prefix := shared(t, testOptions)
	b := node(t, endpoints, prefix, testOptions)
	acct := newAccount(t, a)
	kept, doomed := newBin(t, a, acct, "kept"), newBin(t, a, acct, "doomed")
	waitFor(t, "the other node knows the bins", func() bool {
		_, err1 := b.BinBySID(kept.SID)
		_, err2 := b.BinBySID(doomed.SID)
		return err1 == nil && err2 == nil
	})

	// b's watch stops, as if cut off; meanwhile a writes, and etcd
	// compacts the history b's watch would need.
	next := b.watcher.stop()
	gen := b.Generation(kept.SID)
	_, err := a.UpdateBin(acct, kept.SID, 0, store.BinInput{FriendlyName: "kept", Template: "<Response>new</Response>", RenderPolicy: "lenient"})
	require.NoError(t, err)
	require.NoError(t, a.DeleteBin(acct, doomed.SID, 0))
	added := newBin(t, a, acct, "added")
	cli := client(t, endpoints)
	resp, err := cli.Get(ctx(t), prefix+keyVersion)
	require.NoError(t, err)
	_, err = cli.Compact(ctx(t), resp.Header.Revision)
	require.NoError(t, err)
	require.Less(t, next, resp.Header.Revision, "the watch is behind the compaction")

	b.watcher.start(b, next)
	waitFor(t, "the other node serves the latest", func() bool {
		got, err := b.BinBySID(kept.SID)
		return err == nil && got.Revision == 2
	})
	assert.Equal(t, uint64(1), b.reloads.Load(), "loaded everything again")
	assert.Greater(t, b.Generation(kept.SID), gen)
	_, err = b.BinBySID(doomed.SID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.BinBySID(added.SID)
	assert.NoError(t, err)

	// And it goes on watching.
	later := newBin(t, a, acct, "later")
	waitFor(t, "the other node sees writes after the reload", func() bool {
		_, err := b.BinBySID(later.SID)
		return err == nil
	})
}

// TestKilledMember: with one member of three killed, reads go on from
// memory and writes succeed once the others have a leader.
func TestKilledMember(t *testing.T) {
	c := etcdtest.Start(t, 3)
	s := nodeWith(t, Config{Endpoints: c.Endpoints, Prefix: "/twimlbin/", RequestTimeout: 2 * time.Second, Options: testOptions})
	acct := newAccount(t, s)
	bin := newBin(t, s, acct, "survivor")

	c.Kill(leader(t, c.Endpoints))
	got, err := s.BinBySID(bin.SID)
	require.NoError(t, err)
	assert.Equal(t, bin, got)
	waitFor(t, "a write succeeds after the election", func() bool {
		_, err := s.UpdateBin(acct, bin.SID, 0, store.BinInput{FriendlyName: "after", Template: "<Response/>", RenderPolicy: "lenient"})
		if err != nil {
			require.ErrorIs(t, err, store.ErrUnavailable)
		}
		return err == nil
	})
	created := newBin(t, s, acct, "new")
	got, err = s.BinBySID(created.SID)
	require.NoError(t, err)
	assert.Equal(t, created, got)
}

// leader returns the index of the cluster's leader.
func leader(t *testing.T, endpoints []string) int {
	t.Helper()
	cli := client(t, endpoints)
	for i, ep := range endpoints {
		st, err := cli.Status(ctx(t), ep)
		require.NoError(t, err)
		if st.Header.MemberId == st.Leader {
			return i
		}
	}
	t.Fatal("no member is the leader")
	return -1
}

// TestAllMembersStopped: with every member down, a node serves the bins
// it knows from memory, writes fail with ErrUnavailable, and Reachable
// says so; once the members are back, writes work again and the counts
// kept meanwhile are flushed, without reopening the Store.
func TestAllMembersStopped(t *testing.T) {
	c := etcdtest.Start(t, 3)
	s := nodeWith(t, Config{Endpoints: c.Endpoints, Prefix: "/twimlbin/", RequestTimeout: 500 * time.Millisecond, Options: testOptions})
	acct := newAccount(t, s)
	bin := newBin(t, s, acct, "known")
	require.NoError(t, s.Reachable())

	for i := range c.Endpoints {
		c.Stop(i)
	}
	got, err := s.BinBySID(bin.SID)
	require.NoError(t, err, "a known bin is served from memory")
	assert.Equal(t, bin, got)
	_, err = s.Account(acct)
	require.NoError(t, err)
	s.RecordRequest(bin.SID, time.Time{})

	_, err = s.UpdateBin(acct, bin.SID, 0, store.BinInput{FriendlyName: "lost", RenderPolicy: "lenient"})
	assert.ErrorIs(t, err, store.ErrUnavailable)
	_, _, err = s.CreateAccount("lost")
	assert.ErrorIs(t, err, store.ErrUnavailable)
	_, err = s.Revisions(acct, bin.SID)
	assert.ErrorIs(t, err, store.ErrUnavailable)
	assert.ErrorIs(t, s.Flush(), store.ErrUnavailable)
	waitFor(t, "Reachable reports etcd down", func() bool { return s.Reachable() != nil })
	assert.ErrorIs(t, s.Reachable(), store.ErrUnavailable)
	got, err = s.BinBySID(bin.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.NumRequests, "the count waits in memory")

	for i := range c.Endpoints {
		require.NoError(t, c.Restart(i))
	}
	waitFor(t, "a write succeeds again", func() bool {
		_, err := s.UpdateBin(acct, bin.SID, 0, store.BinInput{FriendlyName: "back", RenderPolicy: "lenient"})
		return err == nil
	})
	require.NoError(t, s.Flush())
	resp, err := client(t, c.Endpoints).Get(ctx(t), "/twimlbin/"+dirUsage+bin.SID)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	var u usageRecord
	require.NoError(t, decode("", resp.Kvs[0].Value, &u))
	assert.Equal(t, int64(1), u.Requests, "the count kept during the outage")
	waitFor(t, "Reachable reports etcd back", func() bool { return s.Reachable() == nil })
}

// TestLostFlushCountedOnce: a flush whose write landed but whose answer
// was lost (a timeout) is tried again by the next flush, which finds its
// token in etcd and adds nothing: the counts are in etcd once.
func TestLostFlushCountedOnce(t *testing.T) {
	s, endpoints, prefix := shared(t, testOptions)
	acct := newAccount(t, s)
	bin := newBin(t, s, acct, "counted")
	s.watcher.stop() // memory learns nothing but from the store's own calls
	for range 5 {
		s.RecordRequest(bin.SID, time.Time{})
	}
	s.flushMu.Lock()
	writes := s.takeUsage("lost-1")
	s.flushMu.Unlock()
	require.Len(t, writes, 1)
	cli := client(t, endpoints)
	_, err := cli.Put(ctx(t), prefix+dirUsage+bin.SID, encode(writes[0].value())) // as the lost write did
	require.NoError(t, err)

	require.NoError(t, s.Flush())
	resp, err := cli.Get(ctx(t), prefix+dirUsage+bin.SID)
	require.NoError(t, err)
	var u usageRecord
	require.NoError(t, decode("", resp.Kvs[0].Value, &u))
	assert.Equal(t, int64(5), u.Requests, "requests in etcd")
	got, err := s.BinBySID(bin.SID)
	require.NoError(t, err)
	assert.Equal(t, int64(5), got.NumRequests)
}
