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
// positive change would take the account past it (Options.CheckQuota).
func charge(tx *bbolt.Tx, cache *recordCache[accountRecord], opts Options, accountSID string, bins, bytes int64) error {
	rec, err := findAccount(tx, cache, accountSID)
	if err != nil {
		return err
	}
	if err := opts.CheckQuota(rec.Bins, rec.Bytes, bins, bytes); err != nil {
		return err
	}
	rec.Bins += bins
	rec.Bytes += bytes
	return put(tx.Bucket(bucketAccounts), []byte(accountSID), rec)
}

// CheckQuota is the rule of the account quotas, for every backend: an
// account holding usedBins bins and usedBytes bytes may add bins and bytes
// (either may be negative) unless a quota of o is set and a positive
// change would take the account past it, which is a *QuotaError. A change
// that does not add is always taken, so that an account over a quota
// lowered since can delete and shrink.
func (o Options) CheckQuota(usedBins, usedBytes, bins, bytes int64) error {
	if limit := int64(o.MaxBinsPerAccount); bins > 0 && limit > 0 && usedBins+bins > limit {
		return &QuotaError{Quota: "bins", Limit: limit, Used: usedBins, Want: usedBins + bins}
	}
	if limit := o.MaxBytesPerAccount; bytes > 0 && limit > 0 && usedBytes+bytes > limit {
		return &QuotaError{Quota: "bytes", Limit: limit, Used: usedBytes, Want: usedBytes + bytes}
	}
	return nil
}
