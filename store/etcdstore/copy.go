package etcdstore

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/twimlbin/twimlbin/store"
)

// This file is the Store's side of store.Copier, with which twimlbin
// migrate moves data between backends, and Backup, which copies the data
// into a bbolt file.

var _ store.Copier = (*Store)(nil)

// Most keys one write of an import puts or deletes.
const importOpsPerTxn = 120

// AccountSIDs returns the SID of every account in etcd, in ascending
// order.
func (s *Store) AccountSIDs() ([]string, error) {
	var sids []string
	err := s.rangeAll(s.keys.prefix+dirAccounts, 0, func(kv *mvccpb.KeyValue) error {
		sids = append(sids, strings.TrimPrefix(string(kv.Key), s.keys.prefix+dirAccounts))
		return nil
	}, clientv3.WithKeysOnly())
	if err != nil {
		return nil, s.failure("account SIDs", err)
	}
	return sids, nil
}

// rangeAll calls fn with every key under prefix, page by page, as of
// revision rev (0 for now), each read bounded by RequestTimeout.
func (s *Store) rangeAll(prefix string, rev int64, fn func(*mvccpb.KeyValue) error, opts ...clientv3.OpOption) error {
	from, end := prefix, clientv3.GetPrefixRangeEnd(prefix)
	for {
		page := append([]clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(loadPageSize)}, opts...)
		if rev != 0 {
			page = append(page, clientv3.WithRev(rev))
		}
		ctx, cancel := s.request()
		resp, err := s.cli.Get(ctx, from, page...)
		cancel()
		if err != nil {
			return err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Export flushes what this node counted, then reads the whole prefix as
// of one etcd revision and passes it to to, as store.Copier says: the
// session key, then every account in ascending order of SID, each
// followed by its bins in the order ListBins gives them. An error of to
// is returned unchanged; so is one of etcd's, wrapped.
func (s *Store) Export(to store.Importer) error {
	if err := s.Flush(); err != nil {
		return err
	}
	var toErr error // an error of to, which passes unchanged
	send := func(err error) error {
		toErr = err
		return err
	}
	err := s.export(to, send)
	if toErr != nil {
		return toErr
	}
	if err != nil {
		return s.failure("export", err)
	}
	return nil
}

func (s *Store) export(to store.Importer, send func(error) error) error {
	// The first read fixes the revision of every other.
	ctx, cancel := s.request()
	key, err := s.cli.Get(ctx, s.keys.sessionKey())
	cancel()
	if err != nil {
		return err
	}
	rev := key.Header.Revision
	if len(key.Kvs) > 0 {
		if err := to.ImportSessionKey(bytes.Clone(key.Kvs[0].Value)); err != nil {
			return send(err)
		}
	}
	quotas := map[string]quotaRecord{}
	err = s.rangeAll(s.keys.prefix+dirQuota, rev, func(kv *mvccpb.KeyValue) error {
		var q quotaRecord
		if err := decode(string(kv.Key), kv.Value, &q); err != nil {
			return err
		}
		quotas[strings.TrimPrefix(string(kv.Key), s.keys.prefix+dirQuota)] = q
		return nil
	})
	if err != nil {
		return err
	}
	type createdBin struct {
		createRev int64
		rec       binRecord
	}
	byAccount := map[string][]createdBin{}
	err = s.rangeAll(s.keys.prefix+dirBins, rev, func(kv *mvccpb.KeyValue) error {
		var rec binRecord
		if err := decode(string(kv.Key), kv.Value, &rec); err != nil {
			return err
		}
		byAccount[rec.AccountSID] = append(byAccount[rec.AccountSID], createdBin{kv.CreateRevision, rec})
		return nil
	})
	if err != nil {
		return err
	}
	return s.rangeAll(s.keys.prefix+dirAccounts, rev, func(kv *mvccpb.KeyValue) error {
		var rec accountRecord
		if err := decode(string(kv.Key), kv.Value, &rec); err != nil {
			return err
		}
		q := quotas[rec.SID]
		if err := to.ImportAccount(rec.dump(q)); err != nil {
			return send(err)
		}
		bins := byAccount[rec.SID]
		slices.SortFunc(bins, func(a, b createdBin) int { return cmp.Compare(a.createRev, b.createRev) })
		for _, b := range bins {
			dump, err := s.exportBin(b.rec, rev)
			if err != nil {
				return err
			}
			if err := to.ImportBin(dump); err != nil {
				return send(err)
			}
		}
		return nil
	})
}

func (r accountRecord) dump(q quotaRecord) store.AccountDump {
	return store.AccountDump{
		SID:             r.SID,
		FriendlyName:    r.FriendlyName,
		AuthTokenSHA256: bytes.Clone(r.AuthTokenSHA256),
		TwilioAuthToken: r.TwilioAuthToken,
		SessionEpoch:    r.SessionEpoch,
		Bins:            int(q.Bins),
		TemplateBytes:   q.Bytes,
		DateCreated:     r.DateCreated,
		DateUpdated:     r.DateUpdated,
	}
}

// exportBin reads the rest of bin rec as of revision rev: its kept
// revisions, its usage and its events.
func (s *Store) exportBin(rec binRecord, rev int64) (store.BinDump, error) {
	b := store.BinDump{
		SID:          rec.SID,
		AccountSID:   rec.AccountSID,
		FriendlyName: rec.FriendlyName,
		Template:     rec.Template,
		RenderPolicy: rec.RenderPolicy,
		Revision:     rec.Revision,
		DateCreated:  rec.DateCreated,
		DateUpdated:  rec.DateUpdated,
	}
	err := s.rangeAll(s.keys.revisions(rec.SID), rev, func(kv *mvccpb.KeyValue) error {
		var r revisionRecord
		if err := decode(string(kv.Key), kv.Value, &r); err != nil {
			return err
		}
		b.Revisions = append(b.Revisions, r.revision())
		return nil
	})
	if err != nil {
		return store.BinDump{}, err
	}
	ctx, cancel := s.request()
	resp, err := s.cli.Get(ctx, s.keys.usage(rec.SID), clientv3.WithRev(rev))
	cancel()
	if err != nil {
		return store.BinDump{}, err
	}
	if len(resp.Kvs) > 0 {
		var u usageRecord
		if err := decode(string(resp.Kvs[0].Key), resp.Kvs[0].Value, &u); err != nil {
			return store.BinDump{}, err
		}
		b.NumRequests, b.DateLastAccessed = u.Requests, fromUnixNano(u.LastNanos)
	}
	err = s.rangeAll(s.keys.events(rec.SID), rev, func(kv *mvccpb.KeyValue) error {
		var e eventRecord
		if err := decode(string(kv.Key), kv.Value, &e); err != nil {
			return err
		}
		b.Events = append(b.Events, store.Event(e))
		return nil
	})
	if err != nil {
		return store.BinDump{}, err
	}
	slices.Reverse(b.Events) // newest first
	return b, nil
}

// ImportSessionKey replaces the key that signs web session cookies. Other
// nodes open on the prefix read it when they are opened again.
func (s *Store) ImportSessionKey(key []byte) error {
	if len(key) != sessionKeySize {
		return fmt.Errorf("etcdstore: import session key: %d bytes, want %d", len(key), sessionKeySize)
	}
	key = bytes.Clone(key)
	ctx, cancel := s.request()
	defer cancel()
	if _, err := s.cli.Put(ctx, s.keys.sessionKey(), string(key)); err != nil {
		return s.failure("import session key", err)
	}
	s.sessionKey.Store(&key)
	return nil
}

// ImportAccount writes the account as given, replacing one with the same
// SID and deleting every bin it held (those this node knows of), as
// store.Importer says. Its quota record starts from zero, for the bins
// imported next.
func (s *Store) ImportAccount(a store.AccountDump) error {
	if err := store.CheckAccountDump(a); err != nil {
		return err
	}
	defer s.gens.Bump(a.SID)
	s.mu.RLock()
	var held []string
	for _, ref := range s.mem.byAccount[a.SID] {
		held = append(held, ref.sid)
	}
	s.mu.RUnlock()
	for chunk := range slices.Chunk(held, importOpsPerTxn/4) {
		var ops []clientv3.Op
		for _, sid := range chunk {
			ops = append(ops, s.deleteBinOps(sid)...)
		}
		if err := s.importWrite("import account "+a.SID, ops, nil); err != nil {
			return err
		}
		for _, sid := range chunk {
			s.forget(sid)
		}
	}
	rec := accountRecord{
		SID:             a.SID,
		FriendlyName:    a.FriendlyName,
		AuthTokenSHA256: bytes.Clone(a.AuthTokenSHA256),
		TwilioAuthToken: a.TwilioAuthToken,
		SessionEpoch:    a.SessionEpoch,
		DateCreated:     a.DateCreated,
		DateUpdated:     a.DateUpdated,
	}
	ctx, cancel := s.request()
	defer cancel()
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpPut(s.keys.account(a.SID), encode(rec)),
		clientv3.OpPut(s.keys.quota(a.SID), encode(quotaRecord{})),
	).Commit()
	if err != nil {
		return s.failure("import account "+a.SID, err)
	}
	s.mu.Lock()
	s.mem.putAccount(rec, resp.Header.Revision)
	s.mem.putQuota(a.SID, quotaRecord{}, resp.Header.Revision)
	s.mu.Unlock()
	return nil
}

// deleteBinOps are the operations that delete bin sid and what it holds.
func (s *Store) deleteBinOps(sid string) []clientv3.Op {
	return []clientv3.Op{
		clientv3.OpDelete(s.keys.bin(sid)),
		clientv3.OpDelete(s.keys.revisions(sid), clientv3.WithPrefix()),
		clientv3.OpDelete(s.keys.usage(sid)),
		clientv3.OpDelete(s.keys.events(sid), clientv3.WithPrefix()),
	}
}

// importWrite commits ops in one transaction, under cmps.
func (s *Store) importWrite(op string, ops []clientv3.Op, cmps []clientv3.Cmp) error {
	ctx, cancel := s.request()
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return s.failure(op, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("etcdstore: %s: another write came first: %w", op, store.ErrConflict)
	}
	return nil
}

// forget drops bin sid, deleted by this node outside the ordinary
// writes, from memory.
func (s *Store) forget(sid string) {
	s.mu.Lock()
	if e, ok := s.mem.bins[sid]; ok {
		s.mem.forgetBin(s.counters, e)
	}
	s.mu.Unlock()
	s.events.discard(sid)
	s.gens.Bump(sid)
}

// ImportBin writes the bin as given, as store.Importer says: a bin with
// the same SID is deleted first, its bytes given back to its account; the
// bin's revisions, events and usage are written, then the bin itself and
// its account's quota record, which takes its bytes whatever the quotas.
// It lists after every bin of its account. store.ErrNotFound when its
// account does not exist.
func (s *Store) ImportBin(b store.BinDump) error {
	if err := store.CheckBinDump(b); err != nil {
		return err
	}
	op := "import bin " + b.SID
	defer s.gens.Bump(b.SID)
	ctx, cancel := s.request()
	defer cancel()

	// A bin of that SID goes first, with its bytes.
	for {
		resp, err := s.cli.Get(ctx, s.keys.bin(b.SID))
		if err != nil {
			return s.failure(op, err)
		}
		if len(resp.Kvs) == 0 {
			break
		}
		var old binRecord
		if err := decode(string(resp.Kvs[0].Key), resp.Kvs[0].Value, &old); err != nil {
			return s.failure(op, err)
		}
		cur, err := s.readBinForWrite(ctx, old.AccountSID, b.SID, 0)
		if err != nil {
			return s.failure(op, err)
		}
		q := cur.quota
		q.Bins, q.Bytes = q.Bins-1, q.Bytes-cur.rec.Bytes
		del, err := s.cli.Txn(ctx).If(cur.unchanged(s.keys, b.SID, old.AccountSID)...).
			Then(append(s.deleteBinOps(b.SID), clientv3.OpPut(s.keys.quota(old.AccountSID), encode(q)))...).Commit()
		if err != nil {
			return s.failure(op, err)
		}
		if del.Succeeded {
			s.mu.Lock()
			s.mem.deleteBin(s.counters, b.SID, del.Header.Revision)
			s.mem.putQuota(old.AccountSID, q, del.Header.Revision)
			s.mu.Unlock()
			s.events.discard(b.SID)
			break
		}
	}

	// Revisions and events, which nothing reads before the bin exists.
	rec := binRecord{
		AccountSID:   b.AccountSID,
		SID:          b.SID,
		FriendlyName: b.FriendlyName,
		RenderPolicy: b.RenderPolicy,
		Revision:     b.Revision,
		DateCreated:  b.DateCreated,
		DateUpdated:  b.DateUpdated,
		Template:     b.Template,
	}
	var puts []clientv3.Op
	for _, r := range b.Revisions {
		rec.Bytes += int64(len(r.Template))
		puts = append(puts, clientv3.OpPut(s.keys.revision(b.SID, r.Revision), encode(revisionRecord{
			Revision:     r.Revision,
			FriendlyName: r.FriendlyName,
			Template:     r.Template,
			RenderPolicy: r.RenderPolicy,
			DateCreated:  r.DateCreated,
		})))
	}
	for _, e := range slices.Backward(b.Events) { // oldest first, so that keys grow
		puts = append(puts, clientv3.OpPut(s.events.nextKey(func(nanos int64, seq uint64) string { return s.keys.event(b.SID, nanos, s.node, seq) }), encode(eventRecord(e))))
	}
	for chunk := range slices.Chunk(puts, importOpsPerTxn) {
		if err := s.importWrite(op, chunk, nil); err != nil {
			return err
		}
	}

	// The bin itself, with its usage, and its account's count.
	var usage usageRecord
	usage.Requests = b.NumRequests
	if !b.DateLastAccessed.IsZero() {
		usage.LastNanos = b.DateLastAccessed.UnixNano()
	}
	for {
		resp, err := s.cli.Txn(ctx).Then(
			clientv3.OpGet(s.keys.account(b.AccountSID), clientv3.WithKeysOnly()),
			clientv3.OpGet(s.keys.quota(b.AccountSID)),
		).Commit()
		if err != nil {
			return s.failure(op, err)
		}
		if len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return fmt.Errorf("etcdstore: %s: account %s: %w", op, b.AccountSID, store.ErrNotFound)
		}
		q, qRev, err := quotaOf(resp.Responses[1].GetResponseRange().Kvs)
		if err != nil {
			return s.failure(op, err)
		}
		q.Bins, q.Bytes = q.Bins+1, q.Bytes+rec.Bytes
		put, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(s.keys.bin(b.SID)), "=", 0),
				clientv3.Compare(clientv3.ModRevision(s.keys.quota(b.AccountSID)), "=", qRev)).
			Then(clientv3.OpPut(s.keys.bin(b.SID), encode(rec)),
				clientv3.OpPut(s.keys.usage(b.SID), encode(usage)),
				clientv3.OpPut(s.keys.quota(b.AccountSID), encode(q))).
			Commit()
		if err != nil {
			return s.failure(op, err)
		}
		if !put.Succeeded {
			continue
		}
		rev := put.Header.Revision
		s.mu.Lock()
		s.mem.putBin(s.counters, rec, rev, rev)
		s.mem.putUsage(b.SID, usage, rev)
		s.mem.putQuota(b.AccountSID, q, rev)
		s.mu.Unlock()
		return nil
	}
}

// Backup writes the whole store as a bbolt file that store.Open reads,
// and returns the bytes written: it copies the store into a file under
// the system's temporary directory (store.Copy), which takes about the
// room of the data, closes it and writes it to w. Counts and events
// this node has not flushed are flushed first.
func (s *Store) Backup(w io.Writer) (int64, error) {
	dir, err := os.MkdirTemp("", "twimlbin-backup-")
	if err != nil {
		return 0, fmt.Errorf("etcdstore: backup: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "twimlbin.db")
	db, err := store.Open(path, store.Options{NoSync: true, FlushInterval: time.Hour})
	if err != nil {
		return 0, fmt.Errorf("etcdstore: backup: %w", err)
	}
	_, copyErr := store.Copy(db, s)
	if err := errors.Join(copyErr, db.Close()); err != nil {
		return 0, fmt.Errorf("etcdstore: backup: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("etcdstore: backup: %w", err)
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return n, fmt.Errorf("etcdstore: backup: %w", err)
	}
	return n, nil
}
