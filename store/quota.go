package store

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// QuotaError is the error of a write refused by one of an account's
// quotas; it wraps ErrQuota. Nothing was saved.
type QuotaError struct {
	// Quota is "bins" (Options.MaxBinsPerAccount) or "bytes"
	// (Options.MaxBytesPerAccount).
	Quota string
	// Limit is the quota; Used what the account holds; Want what it would
	// hold after the write.
	Limit, Used, Want int64
}

func (e *QuotaError) Error() string {
	if e.Quota == "bins" {
		return fmt.Sprintf("store: the account holds %d bins, and its quota is %d", e.Used, e.Limit)
	}
	return fmt.Sprintf("store: the account's templates would take %d bytes, and its quota is %d (it holds %d)", e.Want, e.Limit, e.Used)
}

// Unwrap returns ErrQuota.
func (e *QuotaError) Unwrap() error { return ErrQuota }

// charge adds bins and bytes (either may be negative) to what the account
// holds, or fails with a *QuotaError when a quota of opts is set and a
// positive change would take the account past it. A change that does not
// add is always taken, so that an account over a quota lowered since (or
// counted by the migration that introduced quotas) can delete and shrink.
func charge(tx *bbolt.Tx, cache *recordCache[accountRecord], opts Options, accountSID string, bins, bytes int64) error {
	rec, err := findAccount(tx, cache, accountSID)
	if err != nil {
		return err
	}
	if limit := int64(opts.MaxBinsPerAccount); bins > 0 && limit > 0 && rec.Bins+bins > limit {
		return &QuotaError{Quota: "bins", Limit: limit, Used: rec.Bins, Want: rec.Bins + bins}
	}
	if limit := opts.MaxBytesPerAccount; bytes > 0 && limit > 0 && rec.Bytes+bytes > limit {
		return &QuotaError{Quota: "bytes", Limit: limit, Used: rec.Bytes, Want: rec.Bytes + bytes}
	}
	rec.Bins += bins
	rec.Bytes += bytes
	return put(tx.Bucket(bucketAccounts), []byte(accountSID), rec)
}
