package etcdstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// loadPageSize is how many keys one read of a load takes: bins of up to
// 64 KiB (which JSON may escape to six times that) make a page of at
// most 96 MiB, and common ones a page of a few hundred KiB.
const loadPageSize = 256

// loadDirs are the key ranges memory holds, in the order a load reads
// them: a bin before its usage.
var loadDirs = []string{dirAccounts, dirQuota, dirBins, dirUsage}

// load reads every key memory holds, page by page, all at the revision
// of the first read, which it returns. Each read is bounded by
// RequestTimeout; a compaction that passes that revision meanwhile makes
// it start again.
func (s *Store) load(ctx context.Context) ([]change, int64, error) {
	for {
		changes, rev, err := s.loadAt(ctx)
		if errors.Is(err, rpctypes.ErrCompacted) {
			continue
		}
		return changes, rev, err
	}
}

// loadAt lists each range's keys first, then reads their values a page at
// a time, each page bounded by its first and last key. Paging with a
// limit alone would cost etcd a walk of the rest of the range for every
// page (it counts what a limit leaves out), which made loading 90,000
// bins take 14 s rather than 3.
func (s *Store) loadAt(ctx context.Context) ([]change, int64, error) {
	var changes []change
	var rev int64
	get := func(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		resp, err := s.cli.Get(rctx, key, opts...)
		if err == nil && rev == 0 {
			rev = resp.Header.Revision
		}
		return resp, err
	}
	for _, dir := range loadDirs {
		listed, err := get(s.keys.prefix+dir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			return nil, 0, err
		}
		start := len(changes)
		for page := range slices.Chunk(listed.Kvs, loadPageSize) {
			first, last := string(page[0].Key), string(page[len(page)-1].Key)
			resp, err := get(first, clientv3.WithRange(last+"\x00"))
			if err != nil {
				return nil, 0, err
			}
			for _, kv := range resp.Kvs {
				changes = append(changes, change{
					key:       strings.TrimPrefix(string(kv.Key), s.keys.prefix),
					value:     kv.Value,
					createRev: kv.CreateRevision,
					modRev:    kv.ModRevision,
				})
			}
		}
		if dir == dirBins {
			// In creation order, each bin goes at the end of its account's
			// list, rather than somewhere in it.
			slices.SortStableFunc(changes[start:], func(a, b change) int { return cmp.Compare(a.createRev, b.createRev) })
		}
	}
	return changes, rev, nil
}

// merge brings memory to the state of a load at rev: what the load holds
// is applied as the watch would apply it, and an entry the load lacks,
// written at or before rev, was deleted by then. Entries written after
// rev (by this node, since) stay. It returns what changed and what went,
// for afterApply. s.mu is held for writing.
func (s *Store) merge(snap []change, rev int64) (changed, gone []string) {
	s.apply(snap, &changed, &gone)
	loaded := map[string]bool{}
	for _, c := range snap {
		if sid, ok := strings.CutPrefix(c.key, dirBins); ok {
			loaded[sid] = true
		}
	}
	for sid, e := range s.mem.bins {
		if !loaded[sid] && e.modRev <= rev {
			s.mem.tombstones[sid] = max(s.mem.tombstones[sid], rev)
			s.mem.forgetBin(s.counters, e)
			changed, gone = append(changed, sid), append(gone, sid)
		}
	}
	s.mem.passed(rev)
	return changed, gone
}

// apply applies changes read from etcd to memory, appending the SIDs of
// the accounts and bins that changed to changed, and those of the bins
// that went to gone. A value that does not decode is logged and skipped.
// s.mu is held for writing.
func (s *Store) apply(changes []change, changed, gone *[]string) {
	for _, c := range changes {
		dir, sid, _ := strings.Cut(c.key, "/")
		dir += "/"
		var err error
		switch {
		case dir == dirAccounts && !c.deleted:
			var rec accountRecord
			if err = decode(c.key, c.value, &rec); err == nil && s.mem.putAccount(rec, c.modRev) {
				*changed = append(*changed, sid)
			}
		case dir == dirQuota && !c.deleted:
			var rec quotaRecord
			if err = decode(c.key, c.value, &rec); err == nil {
				s.mem.putQuota(sid, rec, c.modRev)
			}
		case dir == dirBins && c.deleted:
			if s.mem.deleteBin(s.counters, sid, c.modRev) {
				*changed, *gone = append(*changed, sid), append(*gone, sid)
			}
		case dir == dirBins:
			var rec binRecord
			if err = decode(c.key, c.value, &rec); err == nil && s.mem.putBin(s.counters, rec, c.createRev, c.modRev) {
				*changed = append(*changed, sid)
			}
		case dir == dirUsage && !c.deleted:
			var rec usageRecord
			if err = decode(c.key, c.value, &rec); err == nil {
				s.mem.putUsage(sid, rec, c.modRev)
			}
		case c.key == keyVersion && !c.deleted:
			if string(c.value) != strconv.Itoa(schemaVersion()) {
				s.log.Error("another node changed the schema version under the prefix: restart this node with the same twimlbin as the others",
					"key", s.keys.version(), "version", string(c.value), "this_version", schemaVersion())
			}
		}
		if err != nil {
			s.log.Error("etcd holds a record that does not decode: skipped", "err", err)
		}
	}
}

// afterApply tells the rest of the store about what apply changed: the
// generations of the records, and the events waiting for bins that went.
func (s *Store) afterApply(changed, gone []string) {
	for _, sid := range gone {
		s.events.discard(sid)
	}
	for _, sid := range changed {
		s.gens.Bump(sid)
	}
}

// watcher runs the one watch of the prefix.
type watcher struct {
	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	next    atomic.Int64    // the revision to go on from
	current context.Context // the running watch's, for progress requests; nil between watches
	asking  atomic.Bool     // a progress request is under way
}

// start starts watching from revision from.
func (w *watcher) start(s *Store, from int64) {
	ctx, cancel := context.WithCancel(s.ctx)
	w.mu.Lock()
	w.cancel, w.done = cancel, make(chan struct{})
	done := w.done
	w.mu.Unlock()
	w.next.Store(from)
	go func() {
		defer close(done)
		s.watchLoop(ctx)
	}()
}

// stop stops the watch and returns the revision it would go on from.
func (w *watcher) stop() int64 {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return w.next.Load()
}

// requestProgress asks the running watch, if any, to report its progress,
// unless it has not answered the previous request yet.
func (w *watcher) requestProgress(s *Store) {
	w.mu.Lock()
	ctx := w.current
	w.mu.Unlock()
	if ctx == nil || !w.asking.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer w.asking.Store(false)
		_ = s.cli.RequestProgress(ctx)
	}()
}

// watchRetry is the wait before watching again after a watch ended.
const watchRetry = 200 * time.Millisecond

// watchLoop watches the prefix until ctx ends, starting again when a watch
// ends: from where it stopped, or after loading everything again when
// etcd has compacted the history it needs. While etcd is unreachable the
// client keeps trying.
func (s *Store) watchLoop(ctx context.Context) {
	w := &s.watcher
	for ctx.Err() == nil {
		err := s.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.health.watchLost(time.Now())
		if errors.Is(err, rpctypes.ErrCompacted) {
			s.log.Warn("etcd compacted the history this node's watch needed: loading everything again", "from_revision", w.next.Load())
			rev, err := s.reload(ctx)
			if err == nil {
				w.next.Store(rev + 1)
				s.reloads.Add(1)
				continue
			}
			s.log.Warn("loading from etcd failed: trying again", "err", err)
		} else {
			s.log.Warn("the watch of etcd ended: watching again", "err", err, "from_revision", w.next.Load())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(watchRetry):
		}
	}
}

// watchOnce runs one watch from the watcher's next revision, applying
// what it reports, until it ends, and returns why.
func (s *Store) watchOnce(ctx context.Context) error {
	w := &s.watcher
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	w.mu.Lock()
	w.current = wctx
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.current = nil
		w.mu.Unlock()
	}()
	ch := s.cli.Watch(wctx, s.keys.prefix, clientv3.WithPrefix(), clientv3.WithRev(w.next.Load()), clientv3.WithProgressNotify())
	for resp := range ch {
		if err := resp.Err(); err != nil {
			return err
		}
		s.health.watching(time.Now())
		if resp.IsProgressNotify() {
			// News that the watch lives, and no more: etcd without the
			// fix of etcd-io/etcd#15220 (Debian's 3.4.23 among them)
			// answers RequestProgress with its current revision while
			// this watch may still have older events to send, as after
			// it starts again from an older revision. Memory taking that
			// revision as passed would skip those events, so it moves
			// with the events applied only.
			continue
		}
		if len(resp.Events) == 0 {
			continue
		}
		changes := make([]change, len(resp.Events))
		for i, ev := range resp.Events {
			changes[i] = changeOf(s.keys.prefix, ev)
		}
		last := changes[len(changes)-1].modRev
		var changed, gone []string
		s.mu.Lock()
		s.apply(changes, &changed, &gone)
		s.mem.passed(last)
		s.mu.Unlock()
		s.afterApply(changed, gone)
		w.next.Store(last + 1)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("the watch channel closed")
}

// reload is load and merge: memory brought to the state of etcd now.
func (s *Store) reload(ctx context.Context) (int64, error) {
	snap, rev, err := s.load(ctx)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	changed, gone := s.merge(snap, rev)
	s.mu.Unlock()
	s.afterApply(changed, gone)
	return rev, nil
}
