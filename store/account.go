package store

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Account is a tenant: it owns bins and signs in to the API with its SID
// and auth token. The auth token itself is never part of it.
type Account struct {
	SID          string // "AC" and 32 lowercase hex digits
	FriendlyName string
	// TwilioAuthTokenSet says whether a Twilio auth token is stored, in
	// which case requests to the account's bins must be signed with it.
	TwilioAuthTokenSet bool
	// SessionEpoch is the number of the account's current generation of
	// web sessions: a session made under another one is over. EndSessions
	// and RotateAuthToken increase it.
	SessionEpoch uint64
	// Bins is how many bins the account holds, and TemplateBytes the
	// bytes of template text they store, summed over every kept revision:
	// what Options.MaxBinsPerAccount and Options.MaxBytesPerAccount bound.
	Bins          int
	TemplateBytes int64
	DateCreated   time.Time
	DateUpdated   time.Time
}

func (r accountRecord) account() Account {
	return Account{
		SID:                r.SID,
		FriendlyName:       r.FriendlyName,
		TwilioAuthTokenSet: r.TwilioAuthToken != "",
		SessionEpoch:       r.SessionEpoch,
		Bins:               int(r.Bins),
		TemplateBytes:      r.Bytes,
		DateCreated:        r.DateCreated,
		DateUpdated:        r.DateUpdated,
	}
}

// CreateAccount creates an account and returns it with its auth token
// (32 lowercase hex digits). Only a hash of the token is stored, so this is
// the one time it can be shown. A *FriendlyNameError for a name
// CheckFriendlyName refuses.
func (db *DB) CreateAccount(friendlyName string) (Account, string, error) {
	acct, token, _, err := db.createAccount(friendlyName, false)
	return acct, token, err
}

// CreateFirstAccount creates an account as CreateAccount does, but only
// in a store that holds none, deciding that and writing in one
// transaction; created is false, with no error, when there was one.
func (db *DB) CreateFirstAccount(friendlyName string) (acct Account, token string, created bool, err error) {
	return db.createAccount(friendlyName, true)
}

func (db *DB) createAccount(friendlyName string, onlyFirst bool) (Account, string, bool, error) {
	if err := checkName("create account", friendlyName); err != nil {
		return Account{}, "", false, err
	}
	token := NewAuthToken()
	var rec accountRecord
	var exists bool
	err := db.update(func(tx *bbolt.Tx) error {
		if onlyFirst && getU64(tx.Bucket(bucketMeta), keyAccountCount) > 0 {
			exists = true
			return nil
		}
		accounts := tx.Bucket(bucketAccounts)
		t := now()
		rec = accountRecord{
			SID:             newSID(accounts, AccountSIDPrefix),
			FriendlyName:    friendlyName,
			AuthTokenSHA256: HashAuthToken(token),
			DateCreated:     t,
			DateUpdated:     t,
		}
		if err := put(accounts, []byte(rec.SID), rec); err != nil {
			return err
		}
		return addU64(tx, keyAccountCount, 1)
	})
	if err != nil {
		return Account{}, "", false, fmt.Errorf("store: create account: %w", err)
	}
	if exists {
		return Account{}, "", false, nil
	}
	db.gens.Bump(rec.SID)
	return rec.account(), token, true, nil
}

// Authenticate returns the account whose SID and auth token these are. An
// unknown SID and a wrong token both give ErrUnauthorized; tokens are
// compared in constant time. It costs one read and one SHA-256, cheap
// enough for every request.
func (db *DB) Authenticate(sid, authToken string) (Account, error) {
	var rec accountRecord
	var found bool
	err := db.view(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketAccounts).Get([]byte(sid))
		if raw == nil {
			return nil
		}
		found = true
		var err error
		rec, err = db.accounts.decode(sid, raw)
		return err
	})
	if err != nil {
		return Account{}, fmt.Errorf("store: authenticate: %w", err)
	}
	want := rec.AuthTokenSHA256
	if !found {
		want = make([]byte, sha256.Size) // compare anyway: no shortcut for unknown SIDs
	}
	if subtle.ConstantTimeCompare(HashAuthToken(authToken), want) != 1 || !found {
		return Account{}, ErrUnauthorized
	}
	return rec.account(), nil
}

// Account returns the account with this SID, or ErrNotFound.
func (db *DB) Account(sid string) (Account, error) {
	var rec accountRecord
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		rec, err = findAccount(tx, db.accounts, sid)
		return err
	})
	if err != nil {
		return Account{}, wrap("account", err)
	}
	return rec.account(), nil
}

// CountAccounts returns how many accounts exist.
func (db *DB) CountAccounts() (int, error) {
	var n uint64
	err := db.view(func(tx *bbolt.Tx) error {
		n = getU64(tx.Bucket(bucketMeta), keyAccountCount)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: count accounts: %w", err)
	}
	return int(n), nil
}

// UpdateAccount changes the fields given as non-nil and returns the account.
// ErrNotFound for an unknown SID; a *FriendlyNameError for a name
// CheckFriendlyName refuses.
func (db *DB) UpdateAccount(sid string, friendlyName *string) (Account, error) {
	if friendlyName != nil {
		if err := checkName("update account", *friendlyName); err != nil {
			return Account{}, err
		}
	}
	return db.updateAccount(sid, func(rec *accountRecord) {
		if friendlyName != nil {
			rec.FriendlyName = *friendlyName
		}
	})
}

// SetTwilioAuthToken stores the auth token of the account's Twilio account,
// with which request signatures are checked; "" clears it. It is stored as
// given, because signatures are HMACs keyed with it, and only
// TwilioAuthToken ever returns it. ErrNotFound for an unknown SID; a
// *TwilioAuthTokenError for a token CheckTwilioAuthToken refuses.
func (db *DB) SetTwilioAuthToken(sid, token string) (Account, error) {
	if err := CheckTwilioAuthToken(token); err != nil {
		return Account{}, fmt.Errorf("account %s: %w", sid, err)
	}
	return db.updateAccount(sid, func(rec *accountRecord) {
		rec.TwilioAuthToken = token
	})
}

// TwilioAuthToken returns the account's Twilio auth token, "" when none is
// set, for checking request signatures. ErrNotFound for an unknown SID.
func (db *DB) TwilioAuthToken(sid string) (string, error) {
	var rec accountRecord
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		rec, err = findAccount(tx, db.accounts, sid)
		return err
	})
	if err != nil {
		return "", wrap("twilio auth token", err)
	}
	return rec.TwilioAuthToken, nil
}

// RotateAuthToken gives the account a new auth token and returns it; the
// old one stops working at once, and so does every session signed in with
// it (the account's SessionEpoch increases). ErrNotFound for an unknown
// SID.
func (db *DB) RotateAuthToken(sid string) (string, error) {
	token := NewAuthToken()
	_, err := db.updateAccount(sid, func(rec *accountRecord) {
		rec.AuthTokenSHA256 = HashAuthToken(token)
		rec.SessionEpoch++
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// EndSessions ends every web session of the account, wherever it was
// signed in, by increasing its SessionEpoch, and returns the account.
// ErrNotFound for an unknown SID.
func (db *DB) EndSessions(sid string) (Account, error) {
	return db.updateAccount(sid, func(rec *accountRecord) {
		rec.SessionEpoch++
	})
}

// updateAccount applies change to the stored account, stamps DateUpdated
// and saves it.
func (db *DB) updateAccount(sid string, change func(*accountRecord)) (Account, error) {
	var rec accountRecord
	defer db.gens.Bump(sid)
	err := db.update(func(tx *bbolt.Tx) error {
		var err error
		if rec, err = findAccount(tx, db.accounts, sid); err != nil {
			return err
		}
		change(&rec)
		rec.DateUpdated = now()
		return put(tx.Bucket(bucketAccounts), []byte(sid), rec)
	})
	if err != nil {
		return Account{}, wrap("update account", err)
	}
	return rec.account(), nil
}

// findAccount reads an account through the cache, or returns ErrNotFound.
func findAccount(tx *bbolt.Tx, cache *recordCache[accountRecord], sid string) (accountRecord, error) {
	raw := tx.Bucket(bucketAccounts).Get([]byte(sid))
	if raw == nil {
		return accountRecord{}, fmt.Errorf("account %s: %w", sid, ErrNotFound)
	}
	rec, err := cache.decode(sid, raw)
	if err != nil {
		return rec, fmt.Errorf("account %s: %w", sid, err)
	}
	return rec, nil
}

// accountExists returns ErrNotFound when there is no account sid.
func accountExists(tx *bbolt.Tx, sid string) error {
	if tx.Bucket(bucketAccounts).Get([]byte(sid)) == nil {
		return fmt.Errorf("account %s: %w", sid, ErrNotFound)
	}
	return nil
}

// HashAuthToken is what every backend stores of an auth token: its
// SHA-256. Tokens are 128 random bits, so an unsalted fast hash is enough.
func HashAuthToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// NewAuthToken returns a new auth token: 128 random bits as 32 lowercase
// hex digits.
func NewAuthToken() string { return randomHex() }

// randomHex returns 128 random bits as 32 lowercase hex digits.
func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}

// SID prefixes: an account's, a bin's.
const (
	AccountSIDPrefix = "AC"
	BinSIDPrefix     = "EH"
)

// IsAccountSID reports whether s has the form of an account SID: "AC" and
// 32 lowercase hex digits, as the store makes them.
func IsAccountSID(s string) bool { return isSID(s, AccountSIDPrefix) }

// IsBinSID reports whether s has the form of a bin SID: "EH" and 32
// lowercase hex digits.
func IsBinSID(s string) bool { return isSID(s, BinSIDPrefix) }

func isSID(s, prefix string) bool {
	if len(s) != sidLen || s[:2] != prefix {
		return false
	}
	for i := 2; i < len(s); i++ {
		if b := s[i]; (b < '0' || b > '9') && (b < 'a' || b > 'f') {
			return false
		}
	}
	return true
}

// NewSID returns prefix and 32 random lowercase hex digits: a SID that no
// record has, with overwhelming likelihood. Backends still make sure.
func NewSID(prefix string) string { return prefix + randomHex() }

// newSID returns a new SID with prefix, a key not yet in b.
func newSID(b *bbolt.Bucket, prefix string) string {
	for {
		sid := NewSID(prefix)
		if b.Get([]byte(sid)) == nil {
			return sid
		}
	}
}
