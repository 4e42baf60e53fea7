package etcdstore

import (
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// compactor compacts etcd's history every CompactInterval until Close,
// each time to the revision the node had seen at the time before (from,
// the revision Open loaded at, the first time): so etcd keeps about one
// interval of history, which a watch that lags less than that never
// misses. A watch that falls further behind loads everything again.
func (s *Store) compactor(from int64) {
	defer s.done.Done()
	t := time.NewTicker(s.cfg.CompactInterval)
	defer t.Stop()
	target := from
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		seen := s.seenRevision()
		if err := s.compact(target); err != nil && s.ctx.Err() == nil {
			s.log.Warn("compacting etcd's history failed: the next compaction goes further", "err", err, "revision", target, "every", s.cfg.CompactInterval)
		}
		target = seen
	}
}

// seenRevision is the revision up to which the node's memory holds every
// change: the watch's latest, or its latest progress report.
func (s *Store) seenRevision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mem.rev
}

// compact compacts etcd's history up to revision rev: etcd forgets every
// version of a key that was replaced or deleted at or before rev, and the
// space they took is used again by later writes. The database file does
// not shrink: that takes a defragmentation, which blocks the member while
// it runs, so the store leaves it to the operator.
//
// Every node compacts, each on its own clock, to revisions close to one
// another's: etcd answers that rev is compacted already when another
// node (or the operator, or etcd's own auto-compaction) came first, and
// that is no error.
func (s *Store) compact(rev int64) error {
	if rev <= s.compactedTo.Load() {
		return nil
	}
	ctx, cancel := s.request()
	defer cancel()
	_, err := s.cli.Compact(ctx, rev)
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		s.log.Debug("etcd's history was compacted already", "revision", rev)
	case err != nil:
		return s.failure("compact", err)
	default:
		s.answered()
		s.log.Debug("compacted etcd's history", "revision", rev)
	}
	s.compactedTo.Store(rev)
	return nil
}
