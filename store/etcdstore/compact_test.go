package etcdstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/twimlbin/twimlbin/internal/etcdtest"
	"github.com/twimlbin/twimlbin/store"
)

// TestCompactHistory: a compaction makes etcd forget the versions older
// than its revision and keep those from it on; the store goes on serving
// and writing; a second node compacting to the same revision, as every
// node does, is no error.
func TestCompactHistory(t *testing.T) {
	a, endpoints, prefix := shared(t, testOptions)
	b := node(t, endpoints, prefix, testOptions)
	acct := newAccount(t, a)
	bin := newBin(t, a, acct, "v1")
	cli := client(t, endpoints)
	first, err := cli.Get(ctx(t), prefix+dirBins+bin.SID)
	require.NoError(t, err)
	created := first.Kvs[0].ModRevision
	_, err = a.UpdateBin(acct, bin.SID, 1, store.BinInput{FriendlyName: "v2", Template: "<Response/>", RenderPolicy: "lenient"})
	require.NoError(t, err)
	second, err := cli.Get(ctx(t), prefix+dirBins+bin.SID)
	require.NoError(t, err)
	retained := second.Header.Revision
	// The second node's watch must have passed the update before the
	// compaction, or etcd rightly cuts it off.
	waitFor(t, "the second node serves the update", func() bool {
		got, err := b.BinBySID(bin.SID)
		return err == nil && got.Revision == 2
	})

	require.NoError(t, a.compact(retained))
	assert.Equal(t, retained, a.compactedTo.Load())
	_, err = cli.Get(ctx(t), prefix+dirBins+bin.SID, clientv3.WithRev(created))
	assert.ErrorIs(t, err, rpctypes.ErrCompacted, "a version older than the retained revision is gone")
	kept, err := cli.Get(ctx(t), prefix+dirBins+bin.SID, clientv3.WithRev(retained))
	require.NoError(t, err, "the retained revision is kept")
	var rec binRecord
	require.NoError(t, decode("", kept.Kvs[0].Value, &rec))
	assert.Equal(t, 2, rec.Revision)

	require.NoError(t, b.compact(retained), "the same compaction by a second node")
	assert.Equal(t, retained, b.compactedTo.Load())

	v3, err := a.UpdateBin(acct, bin.SID, 2, store.BinInput{FriendlyName: "v3", Template: "<Response><Hangup/></Response>", RenderPolicy: "lenient"})
	require.NoError(t, err, "writes after the compaction")
	got, err := a.BinBySID(bin.SID)
	require.NoError(t, err)
	assert.Equal(t, v3, got)
	revs, err := a.Revisions(acct, bin.SID)
	require.NoError(t, err)
	assert.Len(t, revs, 3, "kept revisions are keys of their own, not etcd's history")
	waitFor(t, "the second node serves the write after the compaction", func() bool {
		got, err := b.BinBySID(bin.SID)
		return err == nil && got.Revision == 3
	})
	assert.Zero(t, b.reloads.Load(), "a watch that kept up is not cut off by a compaction")
}

// TestCompactor: a node compacts by itself, every CompactInterval, to the
// revision it had seen one interval earlier.
func TestCompactor(t *testing.T) {
	endpoints, prefix := etcdtest.Shared(t).Endpoints, etcdtest.Prefix(t)
	s := nodeWith(t, Config{Endpoints: endpoints, Prefix: prefix, CompactInterval: 20 * time.Millisecond, Options: testOptions})
	acct := newAccount(t, s)
	bin := newBin(t, s, acct, "compacted")
	cli := client(t, endpoints)
	resp, err := cli.Get(ctx(t), prefix+dirBins+bin.SID)
	require.NoError(t, err)
	written := resp.Kvs[0].ModRevision
	waitFor(t, "the node compacts up to its write", func() bool { return s.compactedTo.Load() >= written })
	_, err = cli.Get(ctx(t), prefix+dirBins+bin.SID, clientv3.WithRev(written-1))
	assert.ErrorIs(t, err, rpctypes.ErrCompacted)
	_, err = s.UpdateBin(acct, bin.SID, 0, store.BinInput{FriendlyName: "after", RenderPolicy: "lenient"})
	assert.NoError(t, err)
}

func TestCompactIntervalDefault(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{0: DefaultCompactInterval, time.Minute: time.Minute, -1: -1} {
		cfg := Config{Endpoints: []string{"http://127.0.0.1:2379"}, CompactInterval: in}
		require.NoError(t, cfg.fill())
		assert.Equal(t, want, cfg.CompactInterval, "CompactInterval %s", in)
	}
}

// TestCompactionBoundsSpace: with its history compacted as the store
// does it, etcd takes several times its space quota in writes; without,
// TestNoSpace fills the same quota with a fraction of them.
func TestCompactionBoundsSpace(t *testing.T) {
	c := etcdtest.Start(t, 1, "--quota-backend-bytes", strconv.Itoa(spaceQuota))
	s := nodeWith(t, Config{Endpoints: c.Endpoints, Prefix: DefaultPrefix, CompactInterval: -1,
		Options: store.Options{FlushInterval: time.Hour, RevisionsKept: 3}})
	acct := newAccount(t, s)
	bin := newBin(t, s, acct, "busy")
	cli := client(t, c.Endpoints)

	// A compaction every 5 writes to the revision seen 5 writes before,
	// as the compactor does every interval.
	const writes, every = 300, 5
	var seen, written, largest int64
	for i := range writes {
		if i%every == 0 {
			next := s.seenRevision()
			require.NoError(t, s.compact(seen))
			seen = next
		}
		in := store.BinInput{FriendlyName: "busy", Template: filler(i), RenderPolicy: "lenient"}
		_, err := s.UpdateBin(acct, bin.SID, 0, in)
		require.NoError(t, err, "write %d, %d bytes written so far", i, written)
		written += int64(2 * len(in.Template)) // the bin and its revision
		if i%50 == 0 {
			st, err := cli.Status(ctx(t), c.Endpoints[0])
			require.NoError(t, err)
			largest = max(largest, st.DbSize)
		}
	}
	assert.Greater(t, written, int64(4*spaceQuota))
	t.Logf("%d writes of %d KiB templates (%d KiB of records) in a quota of %d KiB, compacting every %d writes: largest database %d KiB",
		writes, len(filler(0))>>10, written>>10, spaceQuota>>10, every, largest>>10)
}
