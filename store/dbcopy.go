package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// This file is DB's side of Copier: reading the whole file as dumps, and
// writing dumps into it with the bookkeeping that the ordinary writes
// keep (record counts, quota counts, account_bins order, usage slots).

// AccountSIDs returns the SID of every account, in ascending order.
func (db *DB) AccountSIDs() ([]string, error) {
	var sids []string
	err := db.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEach(func(k, _ []byte) error {
			sids = append(sids, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, wrap("account SIDs", err)
	}
	return sids, nil
}

// Export reads the whole database in one read transaction and passes it
// to to, as Copier says. Usage counters and events come as reads show
// them, with what is not flushed yet. An error of to is returned
// unchanged; others are ErrCorrupt or the file's.
func (db *DB) Export(to Importer) error {
	var toErr error // an error of to, which passes unchanged
	send := func(err error) error {
		toErr = err
		return err
	}
	batches := db.buf.snapshot() // before the transaction, as Events
	err := db.view(func(tx *bbolt.Tx) error {
		if key := tx.Bucket(bucketMeta).Get(keySessionKey); key != nil {
			if len(key) != sessionKeySize {
				return fmt.Errorf("session key: %d bytes, want %d", len(key), sessionKeySize)
			}
			if err := to.ImportSessionKey(bytes.Clone(key)); err != nil {
				return send(err)
			}
		}
		flushed := flushedGeneration(tx)
		c := tx.Bucket(bucketAccounts).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var rec accountRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			if err := to.ImportAccount(rec.dump()); err != nil {
				return send(err)
			}
			list := tx.Bucket(bucketAccountBins).Cursor()
			for lk, lv := list.Seek(k); lk != nil && bytes.HasPrefix(lk, k); lk, lv = list.Next() {
				sid, _, err := parseAccountBin(lk, lv)
				if err != nil {
					return err
				}
				b, err := db.exportBin(tx, string(sid), batches, flushed)
				if err != nil {
					return err
				}
				if err := to.ImportBin(b); err != nil {
					return send(err)
				}
			}
		}
		return nil
	})
	if toErr != nil {
		return toErr
	}
	if err != nil {
		return wrap("export", err)
	}
	return nil
}

func (r accountRecord) dump() AccountDump {
	return AccountDump{
		SID:             r.SID,
		FriendlyName:    r.FriendlyName,
		AuthTokenSHA256: bytes.Clone(r.AuthTokenSHA256),
		TwilioAuthToken: r.TwilioAuthToken,
		SessionEpoch:    r.SessionEpoch,
		Bins:            int(r.Bins),
		TemplateBytes:   r.Bytes,
		DateCreated:     r.DateCreated,
		DateUpdated:     r.DateUpdated,
	}
}

// exportBin reads bin sid whole: its record, kept revisions, usage
// counters, and events, stored and from the batches of a snapshot not yet
// flushed as of tx.
func (db *DB) exportBin(tx *bbolt.Tx, sid string, batches []*batch, flushed uint64) (BinDump, error) {
	rec, err := findBin(tx, "", sid)
	if err != nil {
		return BinDump{}, err
	}
	u := db.usage.usage(sid)
	b := BinDump{
		SID:              rec.SID,
		AccountSID:       rec.AccountSID,
		FriendlyName:     rec.FriendlyName,
		Template:         rec.Template,
		RenderPolicy:     rec.RenderPolicy,
		Revision:         rec.Revision,
		DateCreated:      rec.DateCreated,
		DateUpdated:      rec.DateUpdated,
		NumRequests:      u.NumRequests,
		DateLastAccessed: u.DateLastAccessed,
		Events:           db.buf.events(batches, flushed, sid),
	}
	prefix := []byte(sid)
	c := tx.Bucket(bucketRevisions).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var r revisionRecord
		if err := decode(k, v, &r); err != nil {
			return BinDump{}, err
		}
		b.Revisions = append(b.Revisions, r.revision())
	}
	c = tx.Bucket(bucketEvents).Cursor()
	for k, v := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
		var r eventRecord
		if err := decode(k, v, &r); err != nil {
			return BinDump{}, err
		}
		b.Events = append(b.Events, Event(r))
	}
	return b, nil
}

// ImportSessionKey replaces the key that signs web session cookies.
func (db *DB) ImportSessionKey(key []byte) error {
	if len(key) != sessionKeySize {
		return fmt.Errorf("store: import session key: %d bytes, want %d", len(key), sessionKeySize)
	}
	key = bytes.Clone(key)
	err := db.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySessionKey, key)
	})
	if err != nil {
		return wrap("import session key", err)
	}
	db.sessionKey.Store(&key)
	return nil
}

// ImportAccount writes the account as given, replacing one with the same
// SID and deleting every bin it held, as Importer says. Its quota counts
// start from zero, for the bins imported next.
func (db *DB) ImportAccount(a AccountDump) error {
	if err := CheckAccountDump(a); err != nil {
		return err
	}
	defer db.gens.Bump(a.SID)
	db.usageMu.Lock()
	defer db.usageMu.Unlock()
	var removed []string
	err := db.update(func(tx *bbolt.Tx) error {
		removed = nil
		accounts := tx.Bucket(bucketAccounts)
		if accounts.Get([]byte(a.SID)) == nil {
			if err := addU64(tx, keyAccountCount, 1); err != nil {
				return err
			}
		} else {
			var err error
			if removed, err = removeAccountBins(tx, db.accounts, a.SID); err != nil {
				return err
			}
		}
		return put(accounts, []byte(a.SID), accountRecord{
			SID:             a.SID,
			FriendlyName:    a.FriendlyName,
			AuthTokenSHA256: a.AuthTokenSHA256,
			TwilioAuthToken: a.TwilioAuthToken,
			SessionEpoch:    a.SessionEpoch,
			DateCreated:     a.DateCreated,
			DateUpdated:     a.DateUpdated,
		})
	})
	if err != nil {
		return wrap("import account "+a.SID, err)
	}
	for _, sid := range removed {
		db.usage.release(sid)
		db.buf.discard(sid)
		db.gens.Bump(sid)
	}
	return nil
}

// removeAccountBins deletes every bin of the account, as DeleteBin does,
// and returns their SIDs, whose usage slots the caller releases once the
// transaction commits.
func removeAccountBins(tx *bbolt.Tx, accounts *recordCache[accountRecord], accountSID string) ([]string, error) {
	var sids []string
	prefix := []byte(accountSID)
	c := tx.Bucket(bucketAccountBins).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		sid, _, err := parseAccountBin(k, v)
		if err != nil {
			return nil, err
		}
		sids = append(sids, string(sid))
	}
	for _, sid := range sids {
		rec, err := findBin(tx, "", sid)
		if err != nil {
			return nil, err
		}
		if err := removeBin(tx, accounts, rec); err != nil {
			return nil, err
		}
	}
	return sids, nil
}

// ImportBin writes the bin as given, as Importer says: a bin with the same
// SID is deleted first, and the bin is listed after every bin of its
// account, with a new usage slot holding its counters. ErrNotFound when
// its account does not exist.
func (db *DB) ImportBin(b BinDump) error {
	if err := CheckBinDump(b); err != nil {
		return err
	}
	defer db.gens.Bump(b.SID)
	db.usageMu.Lock()
	defer db.usageMu.Unlock()
	slot := db.usage.reserve()
	usage := usageRecord{NumRequests: b.NumRequests, DateLastAccessed: b.DateLastAccessed}
	replaced := false
	err := db.update(func(tx *bbolt.Tx) error {
		replaced = false
		if err := accountExists(tx, b.AccountSID); err != nil {
			return err
		}
		switch old, err := findBin(tx, "", b.SID); {
		case err == nil:
			if err := removeBin(tx, db.accounts, old); err != nil {
				return err
			}
			replaced = true
		case !errors.Is(err, ErrNotFound):
			return err
		}
		bins := tx.Bucket(bucketBins)
		seq, err := bins.NextSequence()
		if err != nil {
			return err
		}
		rec := binRecord{binHeader: binHeader{
			SID:          b.SID,
			AccountSID:   b.AccountSID,
			Seq:          seq,
			FriendlyName: b.FriendlyName,
			RenderPolicy: b.RenderPolicy,
			Revision:     b.Revision,
			DateCreated:  b.DateCreated,
			DateUpdated:  b.DateUpdated,
		}, Template: b.Template}
		revisions := tx.Bucket(bucketRevisions)
		for _, r := range b.Revisions {
			rec.Bytes += int64(len(r.Template))
			err := put(revisions, seqKey(b.SID, uint64(r.Revision)), revisionRecord{
				Revision:     r.Revision,
				FriendlyName: r.FriendlyName,
				Template:     r.Template,
				RenderPolicy: r.RenderPolicy,
				DateCreated:  r.DateCreated,
			})
			if err != nil {
				return err
			}
		}
		if err := put(bins, []byte(b.SID), rec); err != nil {
			return err
		}
		// Copied data is taken whole, whatever this store's quotas.
		if err := charge(tx, db.accounts, Options{}, b.AccountSID, 1, rec.Bytes); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAccountBins).Put(seqKey(b.AccountSID, seq), accountBinValue(b.SID, slot)); err != nil {
			return err
		}
		if err := putSlot(tx, slot, usage); err != nil {
			return err
		}
		events := tx.Bucket(bucketEvents)
		for i := len(b.Events) - 1; i >= 0; i-- { // oldest first, so that seqs grow
			seq, err := events.NextSequence()
			if err != nil {
				return err
			}
			if err := put(events, seqKey(b.SID, seq), eventRecord(b.Events[i])); err != nil {
				return err
			}
		}
		return addU64(tx, keyBinCount, 1)
	})
	if err != nil {
		db.usage.unreserve(slot)
		return wrap("import bin "+b.SID, err)
	}
	if replaced {
		db.usage.release(b.SID)
		db.buf.discard(b.SID)
	}
	db.usage.set(slot, usage)
	db.usage.assign(b.SID, slot)
	return nil
}

// CheckAccountDump refuses an account a store could not have written:
// every backend's ImportAccount calls it first.
func CheckAccountDump(a AccountDump) error {
	switch {
	case !IsAccountSID(a.SID):
		return fmt.Errorf("store: import account %q: not an account SID (AC and 32 lowercase hex digits)", a.SID)
	case len(a.AuthTokenSHA256) != sha256.Size:
		return fmt.Errorf("store: import account %s: the auth token hash is %d bytes, want %d (a SHA-256)", a.SID, len(a.AuthTokenSHA256), sha256.Size)
	}
	return nil
}

// CheckBinDump refuses a bin a store could not have written: its
// revisions must be numbered upwards from 1 and end at its current one.
// Every backend's ImportBin calls it first.
func CheckBinDump(b BinDump) error {
	switch {
	case !IsBinSID(b.SID):
		return fmt.Errorf("store: import bin %q: not a bin SID (EH and 32 lowercase hex digits)", b.SID)
	case !IsAccountSID(b.AccountSID):
		return fmt.Errorf("store: import bin %s: account %q is not an account SID", b.SID, b.AccountSID)
	case len(b.Revisions) == 0:
		return fmt.Errorf("store: import bin %s: no revisions; a bin keeps at least its current one", b.SID)
	case b.Revisions[len(b.Revisions)-1].Revision != b.Revision:
		return fmt.Errorf("store: import bin %s: the newest revision is %d, not the current one, %d", b.SID, b.Revisions[len(b.Revisions)-1].Revision, b.Revision)
	}
	for i, r := range b.Revisions {
		if r.Revision < 1 || (i > 0 && r.Revision <= b.Revisions[i-1].Revision) {
			return fmt.Errorf("store: import bin %s: revision %d at position %d: revisions must be numbered from 1 up, oldest first", b.SID, r.Revision, i+1)
		}
	}
	return nil
}
