package etcdstore

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/twimlbin/twimlbin/store"
)

// bin returns the bin of entry e with its usage: as flushed, plus what
// this node counted and has not flushed. s.mu is held.
func (s *Store) bin(e *binEntry) store.Bin {
	requests, last := s.counters.pending(e.slot)
	requests += e.usage.Requests + e.inflight.requests
	last = max(last, e.usage.LastNanos, e.inflight.lastNanos)
	return e.rec.bin(requests, last)
}

// bin returns the bin of record r with these usage counters.
func (r binRecord) bin(requests, lastNanos int64) store.Bin {
	return store.Bin{
		SID:              r.SID,
		AccountSID:       r.AccountSID,
		FriendlyName:     r.FriendlyName,
		Template:         r.Template,
		RenderPolicy:     r.RenderPolicy,
		Revision:         r.Revision,
		DateCreated:      r.DateCreated,
		DateUpdated:      r.DateUpdated,
		DateLastAccessed: fromUnixNano(lastNanos),
		NumRequests:      requests,
	}
}

func (r revisionRecord) revision() store.Revision {
	return store.Revision{
		Revision:     r.Revision,
		FriendlyName: r.FriendlyName,
		Template:     r.Template,
		RenderPolicy: r.RenderPolicy,
		DateCreated:  r.DateCreated,
		Size:         len(r.Template),
	}
}

// CreateBin saves a new bin of the account, at revision 1, charging the
// account's quota record. store.ErrNotFound when the account does not
// exist; a *store.QuotaError past a quota; the errors of
// store.CheckBinInput for content it refuses.
func (s *Store) CreateBin(accountSID string, in store.BinInput) (store.Bin, error) {
	if err := store.CheckBinInput(in, ""); err != nil {
		return store.Bin{}, fmt.Errorf("create bin: %w", err)
	}
	ctx, cancel := s.request()
	defer cancel()
	for {
		resp, err := s.cli.Txn(ctx).Then(
			clientv3.OpGet(s.keys.account(accountSID), clientv3.WithKeysOnly()),
			clientv3.OpGet(s.keys.quota(accountSID)),
		).Commit()
		if err != nil {
			return store.Bin{}, s.failure("create bin", err)
		}
		s.answered()
		if len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return store.Bin{}, fmt.Errorf("account %s: %w", accountSID, store.ErrNotFound)
		}
		q, qRev, err := quotaOf(resp.Responses[1].GetResponseRange().Kvs)
		if err != nil {
			return store.Bin{}, s.failure("create bin", err)
		}
		size := int64(len(in.Template))
		if err := s.opts.CheckQuota(q.Bins, q.Bytes, 1, size); err != nil {
			return store.Bin{}, err
		}
		t := now()
		rec := binRecord{
			AccountSID:   accountSID,
			SID:          store.NewSID(store.BinSIDPrefix),
			FriendlyName: in.FriendlyName,
			RenderPolicy: in.RenderPolicy,
			Revision:     1,
			Bytes:        size,
			DateCreated:  t,
			DateUpdated:  t,
			Template:     in.Template,
		}
		q.Bins, q.Bytes = q.Bins+1, q.Bytes+size
		value := encode(rec)
		put, err := s.commit(ctx, s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(s.keys.bin(rec.SID)), "=", 0),
				clientv3.Compare(clientv3.ModRevision(s.keys.quota(accountSID)), "=", qRev)).
			Then(clientv3.OpPut(s.keys.bin(rec.SID), value),
				clientv3.OpPut(s.keys.revision(rec.SID, 1), encode(rec.revisionRecord())),
				clientv3.OpPut(s.keys.quota(accountSID), encode(q))),
			s.holds(s.keys.bin(rec.SID), value))
		if err != nil {
			return store.Bin{}, s.failure("create bin", err)
		}
		if !put.Succeeded {
			continue // another write to the account came first, or the SID is taken
		}
		rev := put.Header.Revision
		s.mu.Lock()
		s.mem.putBin(s.counters, rec, rev, rev)
		s.mem.putQuota(accountSID, q, rev)
		s.mu.Unlock()
		s.gens.Bump(rec.SID)
		return rec.bin(0, 0), nil
	}
}

// revisionRecord is the bin's current content as its revision.
func (r binRecord) revisionRecord() revisionRecord {
	return revisionRecord{
		Revision:     r.Revision,
		FriendlyName: r.FriendlyName,
		Template:     r.Template,
		RenderPolicy: r.RenderPolicy,
		DateCreated:  r.DateUpdated,
	}
}

// Bin returns the account's bin with this SID, from memory, with its
// usage. store.ErrNotFound when there is no such bin or it belongs to
// another account.
func (s *Store) Bin(accountSID, sid string) (store.Bin, error) {
	return s.readBin(accountSID, sid)
}

// BinBySID returns the bin with this SID whatever its account, from
// memory: the bin URL is public. store.ErrNotFound when there is none.
func (s *Store) BinBySID(sid string) (store.Bin, error) {
	return s.readBin("", sid)
}

func (s *Store) readBin(accountSID, sid string) (store.Bin, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.mem.bins[sid]
	if !ok || (accountSID != "" && e.rec.AccountSID != accountSID) {
		return store.Bin{}, fmt.Errorf("bin %s: %w", sid, store.ErrNotFound)
	}
	return s.bin(e), nil
}

// ListBins returns a page of the account's bins in the order they were
// created, from memory, with their usage. A page token that ListBins did
// not make wraps store.ErrBadPageToken; store.ErrNotFound when the account
// does not exist. A bin created while the caller pages through appears on
// the last page; a deleted one is skipped.
func (s *Store) ListBins(accountSID string, q store.ListQuery) (store.Page, error) {
	pageSize := q.PageSize
	if pageSize < 1 {
		pageSize = store.DefaultPageSize
	}
	pageSize = min(pageSize, store.MaxPageSize)
	var after int64 // the creation revision of the last bin of the previous page
	if q.PageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.PageToken)
		if err != nil || len(raw) != 8 || binary.BigEndian.Uint64(raw) > math.MaxInt64 {
			return store.Page{}, fmt.Errorf("page token %q: %w", q.PageToken, store.ErrBadPageToken)
		}
		after = int64(binary.BigEndian.Uint64(raw))
	}

	// One bin more than the page holds tells whether another page follows.
	// Take is the caller's: it runs once the lock is let go.
	s.mu.RLock()
	if _, ok := s.mem.accounts[accountSID]; !ok {
		s.mu.RUnlock()
		return store.Page{}, fmt.Errorf("account %s: %w", accountSID, store.ErrNotFound)
	}
	refs := s.mem.byAccount[accountSID]
	i := sort.Search(len(refs), func(i int) bool { return refs[i].createRev > after })
	var bins []store.Bin
	var revs []int64
	for ; i < len(refs) && len(bins) <= pageSize; i++ {
		b := s.bin(s.mem.bins[refs[i].sid])
		if !q.Templates {
			b.Template = ""
		}
		bins, revs = append(bins, b), append(revs, refs[i].createRev)
	}
	s.mu.RUnlock()

	page := store.Page{Bins: []store.Bin{}}
	for i, b := range bins {
		if i == pageSize || (q.Take != nil && !q.Take(b) && i > 0) {
			page.Next = base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(revs[i-1])))
			break
		}
		page.Bins = append(page.Bins, b)
	}
	return page, nil
}

// UpdateBin saves in as the bin's new content, a new revision, and
// returns the bin. When ifRevision is not 0 and is not the bin's current
// revision, nothing is saved and the error wraps store.ErrConflict.
// store.ErrNotFound when there is no such bin or it belongs to another
// account. Content store.CheckBinInput refuses fails with its errors; the
// current friendly name is kept as it is, so that a bin named under older
// rules can still be changed.
func (s *Store) UpdateBin(accountSID, sid string, ifRevision int, in store.BinInput) (store.Bin, error) {
	return s.saveRevision("update bin", accountSID, sid, ifRevision, func(_ context.Context, cur binRecord) (store.BinInput, string, error) {
		return in, cur.FriendlyName, nil
	})
}

// RestoreRevision saves the content of revision rev as the bin's new
// revision and returns the bin. ifRevision is as for UpdateBin.
// store.ErrNotFound when there is no such bin or revision, or the bin
// belongs to another account; store.ErrPruned for a revision older than
// those kept. The content must pass store.CheckBinInput as it is today,
// but for its friendly name, which is restored as it was.
func (s *Store) RestoreRevision(accountSID, sid string, rev, ifRevision int) (store.Bin, error) {
	return s.saveRevision("restore revision", accountSID, sid, ifRevision, func(ctx context.Context, cur binRecord) (store.BinInput, string, error) {
		r, err := s.findRevision(ctx, cur, rev)
		if err != nil {
			return store.BinInput{}, "", err
		}
		return store.BinInput{FriendlyName: r.FriendlyName, Template: r.Template, RenderPolicy: r.RenderPolicy}, r.FriendlyName, nil
	})
}

// saveRevision is UpdateBin and RestoreRevision. It reads the bin and its
// account's quota record from etcd, checks ifRevision, checks what content
// returns with store.CheckBinInput (held being the friendly name kept
// unchecked), saves it as the next revision, deletes the revisions past the
// RevisionsKept newest and charges the account, all in one transaction
// that holds only while neither the bin nor the quota record changed
// since the read; when one did, it reads again.
func (s *Store) saveRevision(op, accountSID, sid string, ifRevision int, content func(context.Context, binRecord) (in store.BinInput, held string, err error)) (store.Bin, error) {
	defer s.gens.Bump(sid)
	ctx, cancel := s.request()
	defer cancel()
	for {
		cur, err := s.readBinForWrite(ctx, accountSID, sid, ifRevision)
		if err != nil {
			return store.Bin{}, s.failure(op, err)
		}
		in, held, err := content(ctx, cur.rec)
		if err != nil {
			return store.Bin{}, s.failure(op, err)
		}
		if err := store.CheckBinInput(in, held); err != nil {
			return store.Bin{}, fmt.Errorf("bin %s: %w", sid, err)
		}
		next := cur.rec
		next.FriendlyName, next.Template, next.RenderPolicy = in.FriendlyName, in.Template, in.RenderPolicy
		next.Revision++
		next.DateUpdated = now()
		ops := []clientv3.Op{
			clientv3.OpPut(s.keys.bin(sid), encode(next)),
			clientv3.OpPut(s.keys.revision(sid, next.Revision), encode(next.revisionRecord())),
		}
		// The revisions below firstKept go, with their bytes.
		var prunedBytes int64
		if firstKept := next.Revision - s.opts.RevisionsKept + 1; firstKept > 1 {
			end := s.keys.revision(sid, firstKept)
			pruned, err := s.cli.Get(ctx, s.keys.revisions(sid), clientv3.WithRange(end))
			if err != nil {
				return store.Bin{}, s.failure(op, err)
			}
			for _, kv := range pruned.Kvs {
				var r revisionRecord
				if err := decode(string(kv.Key), kv.Value, &r); err != nil {
					return store.Bin{}, s.failure(op, err)
				}
				prunedBytes += int64(len(r.Template))
			}
			if len(pruned.Kvs) > 0 {
				ops = append(ops, clientv3.OpDelete(s.keys.revisions(sid), clientv3.WithRange(end)))
			}
		}
		next.Bytes += int64(len(next.Template)) - prunedBytes
		value := encode(next)
		ops[0] = clientv3.OpPut(s.keys.bin(sid), value)
		q := cur.quota
		if err := s.opts.CheckQuota(q.Bins, q.Bytes, 0, next.Bytes-cur.rec.Bytes); err != nil {
			return store.Bin{}, fmt.Errorf("bin %s: %w", sid, err)
		}
		q.Bytes += next.Bytes - cur.rec.Bytes
		ops = append(ops, clientv3.OpPut(s.keys.quota(accountSID), encode(q)))
		resp, err := s.commit(ctx, s.cli.Txn(ctx).If(cur.unchanged(s.keys, sid, accountSID)...).Then(ops...), s.holds(s.keys.bin(sid), value))
		if err != nil {
			return store.Bin{}, s.failure(op, err)
		}
		if !resp.Succeeded {
			continue
		}
		rev := resp.Header.Revision
		s.mu.Lock()
		s.mem.putBin(s.counters, next, cur.createRev, rev)
		s.mem.putQuota(accountSID, q, rev)
		b := next.bin(0, 0)
		if e, ok := s.mem.bins[sid]; ok {
			// With the usage memory holds, but this write's content even
			// when memory holds a newer one by now.
			used := s.bin(e)
			b.NumRequests, b.DateLastAccessed = used.NumRequests, used.DateLastAccessed
		}
		s.mu.Unlock()
		return b, nil
	}
}

// DeleteBin deletes the bin with all its revisions, usage and events,
// flushed or not, and gives its bytes back to the account. ifRevision is
// as for UpdateBin. store.ErrNotFound when there is no such bin or it
// belongs to another account.
func (s *Store) DeleteBin(accountSID, sid string, ifRevision int) error {
	defer s.gens.Bump(sid)
	ctx, cancel := s.request()
	defer cancel()
	for {
		cur, err := s.readBinForWrite(ctx, accountSID, sid, ifRevision)
		if err != nil {
			return s.failure("delete bin", err)
		}
		q := cur.quota
		q.Bins, q.Bytes = q.Bins-1, q.Bytes-cur.rec.Bytes
		quota := encode(q)
		// Saved when the bin is gone and the quota record holds what
		// this delete wrote, since the read.
		deleted := func(ctx context.Context) (int64, bool) {
			bin, err := s.cli.Get(ctx, s.keys.bin(sid), clientv3.WithCountOnly())
			if err != nil || bin.Count != 0 {
				return 0, false
			}
			rev, ok := s.holds(s.keys.quota(accountSID), quota)(ctx)
			return rev, ok && rev > cur.quotaRev
		}
		resp, err := s.commit(ctx, s.cli.Txn(ctx).If(cur.unchanged(s.keys, sid, accountSID)...).Then(
			clientv3.OpDelete(s.keys.bin(sid)),
			clientv3.OpDelete(s.keys.revisions(sid), clientv3.WithPrefix()),
			clientv3.OpDelete(s.keys.usage(sid)),
			clientv3.OpDelete(s.keys.events(sid), clientv3.WithPrefix()),
			clientv3.OpPut(s.keys.quota(accountSID), quota),
		), deleted)
		if err != nil {
			return s.failure("delete bin", err)
		}
		if !resp.Succeeded {
			continue
		}
		rev := resp.Header.Revision
		s.mu.Lock()
		s.mem.deleteBin(s.counters, sid, rev)
		s.mem.putQuota(accountSID, q, rev)
		s.mu.Unlock()
		s.events.discard(sid)
		return nil
	}
}

// Revisions returns the kept revisions of the bin, newest first, read
// from etcd. store.ErrNotFound when there is no such bin or it belongs to
// another account.
func (s *Store) Revisions(accountSID, sid string) ([]store.Revision, error) {
	ctx, cancel := s.request()
	defer cancel()
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.keys.bin(sid)),
		clientv3.OpGet(s.keys.revisions(sid), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)),
	).Commit()
	if err != nil {
		return nil, s.failure("revisions", err)
	}
	s.answered()
	if _, err := s.ownedBin(resp.Responses[0].GetResponseRange().Kvs, accountSID, sid); err != nil {
		return nil, s.failure("revisions", err)
	}
	var revs []store.Revision
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		var r revisionRecord
		if err := decode(string(kv.Key), kv.Value, &r); err != nil {
			return nil, s.failure("revisions", err)
		}
		revs = append(revs, r.revision())
	}
	return revs, nil
}

// Revision returns revision rev of the bin, read from etcd.
// store.ErrNotFound when there is no such bin or revision, or the bin
// belongs to another account; store.ErrPruned, which wraps ErrNotFound,
// when rev is older than the revisions kept.
func (s *Store) Revision(accountSID, sid string, rev int) (store.Revision, error) {
	ctx, cancel := s.request()
	defer cancel()
	resp, err := s.cli.Get(ctx, s.keys.bin(sid))
	if err != nil {
		return store.Revision{}, s.failure("revision", err)
	}
	s.answered()
	cur, err := s.ownedBin(resp.Kvs, accountSID, sid)
	if err != nil {
		return store.Revision{}, s.failure("revision", err)
	}
	r, err := s.findRevision(ctx, cur, rev)
	if err != nil {
		return store.Revision{}, s.failure("revision", err)
	}
	return r.revision(), nil
}

// findRevision reads revision rev of the bin cur, or returns
// store.ErrNotFound, or store.ErrPruned for a revision older than those
// kept.
func (s *Store) findRevision(ctx context.Context, cur binRecord, rev int) (revisionRecord, error) {
	var r revisionRecord
	if rev < 1 {
		return r, fmt.Errorf("bin %s revision %d: %w", cur.SID, rev, store.ErrNotFound)
	}
	key := s.keys.revision(cur.SID, rev)
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return r, err
	}
	if len(resp.Kvs) == 0 && rev < cur.Revision {
		// Revisions are deleted only by pruning, oldest first.
		return r, fmt.Errorf("bin %s revision %d is older than the revisions kept: %w", cur.SID, rev, store.ErrPruned)
	}
	if len(resp.Kvs) == 0 {
		return r, fmt.Errorf("bin %s revision %d: %w", cur.SID, rev, store.ErrNotFound)
	}
	return r, decode(key, resp.Kvs[0].Value, &r)
}

// binForWrite is a bin as a write read it from etcd, with its account's
// quota record and the revisions the write compares.
type binForWrite struct {
	rec               binRecord
	createRev, modRev int64
	quota             quotaRecord
	quotaRev          int64
}

// unchanged are the comparisons that hold while neither the bin nor the
// quota record changed since they were read.
func (b binForWrite) unchanged(k keys, sid, accountSID string) []clientv3.Cmp {
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(k.bin(sid)), "=", b.modRev),
		clientv3.Compare(clientv3.ModRevision(k.quota(accountSID)), "=", b.quotaRev),
	}
}

// readBinForWrite reads the account's bin and the account's quota record
// from etcd, in one linearizable read, and checks ifRevision.
// store.ErrNotFound when there is no such bin or it belongs to another
// account; store.ErrConflict when ifRevision is not 0 and not the bin's.
func (s *Store) readBinForWrite(ctx context.Context, accountSID, sid string, ifRevision int) (binForWrite, error) {
	resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.keys.bin(sid)), clientv3.OpGet(s.keys.quota(accountSID))).Commit()
	if err != nil {
		return binForWrite{}, err
	}
	s.answered()
	kvs := resp.Responses[0].GetResponseRange().Kvs
	rec, err := s.ownedBin(kvs, accountSID, sid)
	if err != nil {
		return binForWrite{}, err
	}
	if ifRevision != 0 && ifRevision != rec.Revision {
		return binForWrite{}, fmt.Errorf("bin %s is at revision %d, not %d: %w", sid, rec.Revision, ifRevision, store.ErrConflict)
	}
	q, qRev, err := quotaOf(resp.Responses[1].GetResponseRange().Kvs)
	if err != nil {
		return binForWrite{}, err
	}
	return binForWrite{rec: rec, createRev: kvs[0].CreateRevision, modRev: kvs[0].ModRevision, quota: q, quotaRev: qRev}, nil
}

// ownedBin decodes the bin read as kvs (one key or none), or returns
// store.ErrNotFound when there is none or, unless accountSID is "", it
// belongs to another account.
func (s *Store) ownedBin(kvs []*mvccpb.KeyValue, accountSID, sid string) (binRecord, error) {
	if len(kvs) == 0 {
		return binRecord{}, fmt.Errorf("bin %s: %w", sid, store.ErrNotFound)
	}
	var rec binRecord
	if err := decode(string(kvs[0].Key), kvs[0].Value, &rec); err != nil {
		return binRecord{}, err
	}
	if accountSID != "" && rec.AccountSID != accountSID {
		return binRecord{}, fmt.Errorf("bin %s: %w", sid, store.ErrNotFound)
	}
	return rec, nil
}

// quotaOf decodes the quota record read as kvs, zero when there is none,
// with the revision it was written at (0 for none).
func quotaOf(kvs []*mvccpb.KeyValue) (quotaRecord, int64, error) {
	var q quotaRecord
	if len(kvs) == 0 {
		return q, 0, nil
	}
	return q, kvs[0].ModRevision, decode(string(kvs[0].Key), kvs[0].Value, &q)
}

// fromUnixNano is the time of Unix nanoseconds n in UTC, zero for 0.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
