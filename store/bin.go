package store

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"time"

	"go.etcd.io/bbolt"
)

// Bin is a stored TwiML template served at its own URL.
type Bin struct {
	SID          string // "EH" and 32 lowercase hex digits
	AccountSID   string
	FriendlyName string
	Template     string
	// RenderPolicy is RenderPolicyLenient or RenderPolicyStrict.
	RenderPolicy string
	// Revision is 1 when the bin is created and grows by one with every
	// update or restore. It is the ETag of the bin's content.
	Revision    int
	DateCreated time.Time
	DateUpdated time.Time
	// DateLastAccessed is the time of the latest RecordRequest, zero when
	// there was none. Like NumRequests, it includes what is not flushed yet.
	DateLastAccessed time.Time
	NumRequests      int64
}

// BinInput is the content of a bin as the caller gives it. Every field
// replaces the stored one; BinPatch makes one from a partial update. A
// write checks it with CheckBinInput.
type BinInput struct {
	FriendlyName string
	Template     string
	RenderPolicy string
}

// Revision is one saved version of a bin's content.
type Revision struct {
	Revision     int
	FriendlyName string
	Template     string
	RenderPolicy string
	DateCreated  time.Time // when this revision was saved
	Size         int       // len(Template) in bytes
}

// Page is one page of ListBins.
type Page struct {
	Bins []Bin
	// Next is the token for the following page, "" on the last one.
	Next string
}

// Page sizes of ListBins.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

func (r binRecord) bin(u usageRecord) Bin {
	return Bin{
		SID:              r.SID,
		AccountSID:       r.AccountSID,
		FriendlyName:     r.FriendlyName,
		Template:         r.Template,
		RenderPolicy:     r.RenderPolicy,
		Revision:         r.Revision,
		DateCreated:      r.DateCreated,
		DateUpdated:      r.DateUpdated,
		DateLastAccessed: u.DateLastAccessed,
		NumRequests:      u.NumRequests,
	}
}

func (r revisionRecord) revision() Revision {
	return Revision{
		Revision:     r.Revision,
		FriendlyName: r.FriendlyName,
		Template:     r.Template,
		RenderPolicy: r.RenderPolicy,
		DateCreated:  r.DateCreated,
		Size:         len(r.Template),
	}
}

// CreateBin saves a new bin of the account, at revision 1. ErrNotFound when
// the account does not exist; the errors of CheckBinInput for content it
// refuses.
func (db *DB) CreateBin(accountSID string, in BinInput) (Bin, error) {
	if err := CheckBinInput(in, ""); err != nil {
		return Bin{}, fmt.Errorf("create bin: %w", err)
	}
	db.usageMu.Lock()
	defer db.usageMu.Unlock()
	slot := db.usage.reserve()
	var rec binRecord
	err := db.update(func(tx *bbolt.Tx) error {
		var err error
		rec, err = createBin(tx, db.accounts, db.opts, accountSID, in, now(), slot)
		return err
	})
	if err != nil {
		db.usage.unreserve(slot)
		return Bin{}, wrap("create bin", err)
	}
	db.usage.assign(rec.SID, slot)
	db.gens.Bump(rec.SID)
	return rec.bin(usageRecord{}), nil
}

// Bin returns the account's bin with this SID, with its usage counters.
// ErrNotFound when there is no such bin or it belongs to another account.
func (db *DB) Bin(accountSID, sid string) (Bin, error) {
	return db.readBin(accountSID, sid)
}

// BinBySID returns the bin with this SID whatever its account: the bin URL
// is public. ErrNotFound when there is none.
func (db *DB) BinBySID(sid string) (Bin, error) {
	return db.readBin("", sid)
}

// readBin reads a bin and its usage, checking its account unless
// accountSID is "".
func (db *DB) readBin(accountSID, sid string) (Bin, error) {
	var b Bin
	err := db.view(func(tx *bbolt.Tx) error {
		rec, err := findBin(tx, accountSID, sid)
		if err != nil {
			return err
		}
		b = rec.bin(db.usage.usage(sid))
		return nil
	})
	if err != nil {
		return Bin{}, wrap("read bin", err)
	}
	return b, nil
}

// ListQuery says which page of ListBins to read, and what of each bin.
type ListQuery struct {
	// PageSize is the most bins a page holds: below 1 it means
	// DefaultPageSize, above MaxPageSize it means MaxPageSize.
	PageSize int
	// PageToken is "" for the first page and Page.Next for the following
	// ones.
	PageToken string
	// Templates asks for each bin's Template, which is left empty
	// otherwise: a list that does not show them does not read them.
	Templates bool
	// Take, when set, is called with each bin before it joins the page;
	// when it returns false the page ends before that bin, with Next
	// pointing at it, unless it is the page's first, which joins it
	// anyway. It bounds a page by something other than its count, such as
	// its size.
	Take func(Bin) bool
}

// ListBins returns a page of the account's bins in the order they were
// created, with their usage counters. A page token that is not one gives
// an error wrapping ErrBadPageToken. A bin created while the caller pages
// through appears on the last page; a deleted one is skipped. ErrNotFound
// when the account does not exist.
func (db *DB) ListBins(accountSID string, q ListQuery) (Page, error) {
	pageSize, pageToken := q.PageSize, q.PageToken
	if pageSize < 1 {
		pageSize = DefaultPageSize
	}
	pageSize = min(pageSize, MaxPageSize)
	var after uint64 // the creation seq of the last bin of the previous page
	if pageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil || len(raw) != 8 || seqOf(raw) == math.MaxUint64 {
			return Page{}, fmt.Errorf("page token %q: %w", pageToken, ErrBadPageToken)
		}
		after = seqOf(raw)
	}

	page := Page{Bins: []Bin{}}
	var last uint64 // the creation seq of the last bin on this page
	err := db.view(func(tx *bbolt.Tx) error {
		if err := accountExists(tx, accountSID); err != nil {
			return err
		}
		prefix := []byte(accountSID)
		c := tx.Bucket(bucketAccountBins).Cursor()
		for k, v := c.Seek(seqKey(accountSID, after+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(page.Bins) == pageSize {
				page.Next = base64.RawURLEncoding.EncodeToString(u64(last))
				break
			}
			raw, _, err := parseAccountBin(k, v)
			if err != nil {
				return err
			}
			sid := string(raw)
			var rec binRecord
			if q.Templates {
				rec, err = findBin(tx, "", sid)
			} else {
				rec.binHeader, err = findBinHeader(tx, sid)
			}
			if err != nil {
				return err
			}
			b := rec.bin(db.usage.usage(sid))
			if q.Take != nil && !q.Take(b) && len(page.Bins) > 0 {
				page.Next = base64.RawURLEncoding.EncodeToString(u64(last))
				break
			}
			page.Bins = append(page.Bins, b)
			last = seqOf(k)
		}
		return nil
	})
	if err != nil {
		return Page{}, wrap("list bins", err)
	}
	return page, nil
}

// UpdateBin saves in as the bin's new content, a new revision, and returns
// the bin. When ifRevision is not 0 and is not the bin's current revision,
// nothing is saved and the error is ErrConflict. ErrNotFound when there is
// no such bin or it belongs to another account.
//
// Callers changing only some fields read the bin first and pass its
// Revision as ifRevision, so that a concurrent write is not lost.
//
// Content CheckBinInput refuses fails with its errors; the current friendly
// name is kept as it is, so that a bin named under older rules can still
// be changed.
func (db *DB) UpdateBin(accountSID, sid string, ifRevision int, in BinInput) (Bin, error) {
	return db.saveRevision(accountSID, sid, ifRevision, func(_ *bbolt.Tx, cur binRecord) (BinInput, string, error) {
		return in, cur.FriendlyName, nil
	})
}

// RestoreRevision saves the content of revision rev as the bin's new
// revision and returns the bin. ifRevision is as for UpdateBin.
// ErrNotFound when there is no such bin or revision, or the bin belongs to
// another account. The content must pass CheckBinInput as it is today,
// but for its friendly name, which is restored as it was.
func (db *DB) RestoreRevision(accountSID, sid string, rev, ifRevision int) (Bin, error) {
	return db.saveRevision(accountSID, sid, ifRevision, func(tx *bbolt.Tx, cur binRecord) (BinInput, string, error) {
		r, err := findRevision(tx, cur, rev)
		if err != nil {
			return BinInput{}, "", err
		}
		return BinInput{FriendlyName: r.FriendlyName, Template: r.Template, RenderPolicy: r.RenderPolicy}, r.FriendlyName, nil
	})
}

// saveRevision is UpdateBin and RestoreRevision: it checks the bin and
// ifRevision, then checks what content returns with CheckBinInput, held
// being the friendly name that is kept unchecked, saves it as the next
// revision, and deletes the revisions past the RevisionsKept newest. The
// account is charged the bytes this adds, and a *QuotaError leaves
// everything as it was.
func (db *DB) saveRevision(accountSID, sid string, ifRevision int, content func(*bbolt.Tx, binRecord) (in BinInput, held string, err error)) (Bin, error) {
	var b Bin
	defer db.gens.Bump(sid)
	err := db.update(func(tx *bbolt.Tx) error {
		rec, err := findBin(tx, accountSID, sid)
		if err != nil {
			return err
		}
		if ifRevision != 0 && ifRevision != rec.Revision {
			return fmt.Errorf("bin %s is at revision %d, not %d: %w", sid, rec.Revision, ifRevision, ErrConflict)
		}
		in, held, err := content(tx, rec)
		if err != nil {
			return err
		}
		if err := CheckBinInput(in, held); err != nil {
			return fmt.Errorf("bin %s: %w", sid, err)
		}
		oldBytes := rec.Bytes
		rec.FriendlyName, rec.Template, rec.RenderPolicy = in.FriendlyName, in.Template, in.RenderPolicy
		rec.Revision++
		rec.DateUpdated = now()
		pruned, prunedBytes, err := revisionsBefore(tx, sid, rec.Revision-db.opts.RevisionsKept+1)
		if err != nil {
			return err
		}
		rec.Bytes += int64(len(rec.Template)) - prunedBytes
		if err := charge(tx, db.accounts, db.opts, rec.AccountSID, 0, rec.Bytes-oldBytes); err != nil {
			return fmt.Errorf("bin %s: %w", sid, err)
		}
		revisions := tx.Bucket(bucketRevisions)
		for _, k := range pruned {
			if err := revisions.Delete(k); err != nil {
				return err
			}
		}
		if err := putBin(tx, rec); err != nil {
			return err
		}
		b = rec.bin(db.usage.usage(sid))
		return nil
	})
	if err != nil {
		return Bin{}, wrap("save bin", err)
	}
	return b, nil
}

// DeleteBin deletes the bin with all its revisions, usage counters and
// events, flushed or not. ifRevision is as for UpdateBin. ErrNotFound when
// there is no such bin or it belongs to another account.
func (db *DB) DeleteBin(accountSID, sid string, ifRevision int) error {
	defer db.gens.Bump(sid)
	db.usageMu.Lock()
	defer db.usageMu.Unlock()
	err := db.update(func(tx *bbolt.Tx) error {
		rec, err := findBin(tx, accountSID, sid)
		if err != nil {
			return err
		}
		if ifRevision != 0 && ifRevision != rec.Revision {
			return fmt.Errorf("bin %s is at revision %d, not %d: %w", sid, rec.Revision, ifRevision, ErrConflict)
		}
		return removeBin(tx, db.accounts, rec)
	})
	if err != nil {
		return wrap("delete bin", err)
	}
	// Its counters go too, and its buffered events; a flush already under
	// way skips the events of bins that no longer exist.
	db.usage.release(sid)
	db.buf.discard(sid)
	return nil
}

// Revisions returns the kept revisions of the bin (the RevisionsKept
// newest, or more until its next save), newest first.
// ErrNotFound when there is no such bin or it belongs to another account.
func (db *DB) Revisions(accountSID, sid string) ([]Revision, error) {
	var revs []Revision
	err := db.view(func(tx *bbolt.Tx) error {
		if _, err := findBin(tx, accountSID, sid); err != nil {
			return err
		}
		prefix := []byte(sid)
		c := tx.Bucket(bucketRevisions).Cursor()
		for k, v := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			var r revisionRecord
			if err := decode(k, v, &r); err != nil {
				return err
			}
			revs = append(revs, r.revision())
		}
		return nil
	})
	if err != nil {
		return nil, wrap("revisions", err)
	}
	return revs, nil
}

// Revision returns revision rev of the bin. ErrNotFound when there is no
// such bin or revision, or the bin belongs to another account; ErrPruned,
// which wraps ErrNotFound, when rev is older than the revisions kept.
func (db *DB) Revision(accountSID, sid string, rev int) (Revision, error) {
	var r revisionRecord
	err := db.view(func(tx *bbolt.Tx) error {
		rec, err := findBin(tx, accountSID, sid)
		if err != nil {
			return err
		}
		r, err = findRevision(tx, rec, rev)
		return err
	})
	if err != nil {
		return Revision{}, wrap("revision", err)
	}
	return r.revision(), nil
}

// createBin stores a new bin of the account with its first revision, and
// its usage slot, and charges the account for it under the quotas of opts.
func createBin(tx *bbolt.Tx, accounts *recordCache[accountRecord], opts Options, accountSID string, in BinInput, t time.Time, slot uint32) (binRecord, error) {
	if err := charge(tx, accounts, opts, accountSID, 1, int64(len(in.Template))); err != nil {
		return binRecord{}, err
	}
	bins := tx.Bucket(bucketBins)
	seq, err := bins.NextSequence()
	if err != nil {
		return binRecord{}, err
	}
	rec := binRecord{binHeader: binHeader{
		SID:          newSID(bins, BinSIDPrefix),
		AccountSID:   accountSID,
		Seq:          seq,
		FriendlyName: in.FriendlyName,
		RenderPolicy: in.RenderPolicy,
		Revision:     1,
		Bytes:        int64(len(in.Template)),
		DateCreated:  t,
		DateUpdated:  t,
	}, Template: in.Template}
	if err := putBin(tx, rec); err != nil {
		return binRecord{}, err
	}
	if err := tx.Bucket(bucketAccountBins).Put(seqKey(accountSID, seq), accountBinValue(rec.SID, slot)); err != nil {
		return binRecord{}, err
	}
	if err := emptySlot(tx, slot); err != nil {
		return binRecord{}, err
	}
	return rec, addU64(tx, keyBinCount, 1)
}

// removeBin deletes the bin rec with its revisions and stored events, and
// takes it off its account's quota counts and the count of bins. Its
// usage slot is the caller's to release once the transaction commits.
func removeBin(tx *bbolt.Tx, accounts *recordCache[accountRecord], rec binRecord) error {
	key := []byte(rec.SID)
	if err := tx.Bucket(bucketBins).Delete(key); err != nil {
		return err
	}
	if err := tx.Bucket(bucketAccountBins).Delete(seqKey(rec.AccountSID, rec.Seq)); err != nil {
		return err
	}
	if err := deletePrefix(tx.Bucket(bucketRevisions), key); err != nil {
		return err
	}
	if err := deletePrefix(tx.Bucket(bucketEvents), key); err != nil {
		return err
	}
	// A change that takes away is never refused: no quota applies.
	if err := charge(tx, accounts, Options{}, rec.AccountSID, -1, -rec.Bytes); err != nil {
		return err
	}
	return addU64(tx, keyBinCount, -1)
}

// putBin saves the bin's record and its current content as revision
// rec.Revision, stamped rec.DateUpdated.
func putBin(tx *bbolt.Tx, rec binRecord) error {
	if err := put(tx.Bucket(bucketBins), []byte(rec.SID), rec); err != nil {
		return err
	}
	return put(tx.Bucket(bucketRevisions), seqKey(rec.SID, uint64(rec.Revision)), revisionRecord{
		Revision:     rec.Revision,
		FriendlyName: rec.FriendlyName,
		Template:     rec.Template,
		RenderPolicy: rec.RenderPolicy,
		DateCreated:  rec.DateUpdated,
	})
}

// findBin reads a bin, or returns ErrNotFound when there is none or, unless
// accountSID is "", it belongs to another account, which it tells before
// decoding the record.
func findBin(tx *bbolt.Tx, accountSID, sid string) (binRecord, error) {
	data := tx.Bucket(bucketBins).Get([]byte(sid))
	if data == nil {
		return binRecord{}, fmt.Errorf("bin %s: %w", sid, ErrNotFound)
	}
	if owner, ok := binOwner(data); ok && accountSID != "" && string(owner) != accountSID {
		return binRecord{}, fmt.Errorf("bin %s: %w", sid, ErrNotFound)
	}
	var rec binRecord
	if err := decode([]byte(sid), data, &rec); err != nil {
		return binRecord{}, fmt.Errorf("bin %s: %w", sid, err)
	}
	if accountSID != "" && rec.AccountSID != accountSID {
		return binRecord{}, fmt.Errorf("bin %s: %w", sid, ErrNotFound)
	}
	return rec, nil
}

// findBinHeader reads a bin's record but its template, or returns
// ErrNotFound.
func findBinHeader(tx *bbolt.Tx, sid string) (binHeader, error) {
	var h binHeader
	found, err := get(tx.Bucket(bucketBins), []byte(sid), &h)
	if err != nil {
		return binHeader{}, fmt.Errorf("bin %s: %w", sid, err)
	}
	if !found {
		return binHeader{}, fmt.Errorf("bin %s: %w", sid, ErrNotFound)
	}
	return h, nil
}

// revisionsBefore returns the keys of the bin's revisions numbered below
// rev, and the length of their templates summed.
func revisionsBefore(tx *bbolt.Tx, sid string, rev int) ([][]byte, int64, error) {
	if rev <= 1 {
		return nil, 0, nil
	}
	var keys [][]byte
	var n int64
	prefix, end := []byte(sid), seqKey(sid, uint64(rev))
	c := tx.Bucket(bucketRevisions).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, end) < 0; k, v = c.Next() {
		var r revisionRecord
		if err := decode(k, v, &r); err != nil {
			return nil, 0, err
		}
		keys = append(keys, append([]byte(nil), k...))
		n += int64(len(r.Template))
	}
	return keys, n, nil
}

// findRevision reads revision rev of the bin rec, or returns ErrNotFound,
// or ErrPruned for a revision older than the bin's that are kept.
func findRevision(tx *bbolt.Tx, rec binRecord, rev int) (revisionRecord, error) {
	var r revisionRecord
	sid := rec.SID
	if rev < 1 {
		return r, fmt.Errorf("bin %s revision %d: %w", sid, rev, ErrNotFound)
	}
	found, err := get(tx.Bucket(bucketRevisions), seqKey(sid, uint64(rev)), &r)
	if err != nil {
		return r, fmt.Errorf("bin %s revision %d: %w", sid, rev, err)
	}
	if !found && rev < rec.Revision {
		// Revisions are deleted only by pruning, oldest first.
		return r, fmt.Errorf("bin %s revision %d is older than the revisions kept: %w", sid, rev, ErrPruned)
	}
	if !found {
		return r, fmt.Errorf("bin %s revision %d: %w", sid, rev, ErrNotFound)
	}
	return r, nil
}
