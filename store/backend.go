package store

import (
	"errors"
	"io"
	"time"
)

// Store is what the API and the web form need of a database. Two backends
// implement it: DB, one embedded bbolt file (the default), and
// store/etcdstore, an etcd cluster shared by several twimlbin nodes. Both
// pass the conformance suite in store/storetest, so a caller cannot tell
// them apart by what they answer: the same records, the same errors
// (wrapping the sentinels below), the same rules for bins and names.
//
// Cache coherence is the backend's job, told through one mechanism:
// Generation grows after every write of a record, whichever node made it,
// so a caller that keeps what it read may serve it for as long as the
// record's Generation stays the same.
type Store interface {
	// CreateAccount makes an account and returns it with its auth token,
	// which is shown this once: only its hash is kept.
	CreateAccount(friendlyName string) (Account, string, error)
	// CreateFirstAccount creates an account only in a store that holds
	// none, atomically, so that nodes starting at once over an empty
	// cluster make one owner between them; created is false when there
	// was an account already.
	CreateFirstAccount(friendlyName string) (acct Account, token string, created bool, err error)
	// Authenticate returns the account whose SID and auth token these
	// are, or ErrUnauthorized.
	Authenticate(sid, authToken string) (Account, error)
	Account(sid string) (Account, error)
	CountAccounts() (int, error)
	// UpdateAccount changes the fields that are not nil.
	UpdateAccount(sid string, friendlyName *string) (Account, error)
	SetTwilioAuthToken(sid, token string) (Account, error)
	TwilioAuthToken(sid string) (string, error)
	// RotateAuthToken gives the account a new auth token, returned this
	// once, and ends its web sessions.
	RotateAuthToken(sid string) (string, error)
	// EndSessions ends every web session of the account by moving its
	// session epoch on.
	EndSessions(sid string) (Account, error)
	// SessionKey is the key that signs web session cookies: made once,
	// kept by the store, the same for every node and across restarts.
	SessionKey() ([]byte, error)

	CreateBin(accountSID string, in BinInput) (Bin, error)
	// Bin returns the account's bin; another account's is ErrNotFound.
	Bin(accountSID, sid string) (Bin, error)
	// BinBySID returns a bin whatever its account, for the bin URL.
	BinBySID(sid string) (Bin, error)
	ListBins(accountSID string, q ListQuery) (Page, error)
	// UpdateBin saves in as the bin's next revision; ifRevision, when
	// above 0, must be the current one, or the error wraps ErrConflict.
	UpdateBin(accountSID, sid string, ifRevision int, in BinInput) (Bin, error)
	RestoreRevision(accountSID, sid string, rev, ifRevision int) (Bin, error)
	DeleteBin(accountSID, sid string, ifRevision int) error
	Revisions(accountSID, sid string) ([]Revision, error)
	Revision(accountSID, sid string, rev int) (Revision, error)

	// Generation is the write generation of the bin or account sid; see
	// DB.Generation for the contract every backend keeps.
	Generation(sid string) uint64
	// Counter returns a handle that counts the requests of bin sid
	// without looking it up again; the zero Counter counts nothing.
	Counter(sid string) Counter
	// Count counts one request through c. It writes nothing: counts are
	// kept in memory and written in batches.
	Count(c Counter, at time.Time)
	// RecordRequest counts a request of bin sid, looking it up.
	RecordRequest(sid string, at time.Time)
	// AddEvent adds an event to the bin's bounded log, written with the
	// next batch.
	AddEvent(sid string, e Event)
	Events(accountSID, sid string, limit int) ([]Event, error)
	// Flush writes the counts and events waiting for the next batch.
	Flush() error

	// ReadOnly reports whether every write fails with ErrReadOnly.
	ReadOnly() bool
	Stats() Stats
	// Backup writes a consistent copy of the whole database, as a bbolt
	// file that Open reads, and returns the bytes written.
	Backup(w io.Writer) (int64, error)
	// Close writes what waits for the next batch and releases the store;
	// closing it again returns nil.
	Close() error
}

var _ Store = (*DB)(nil)

// ErrUnavailable: the store cannot be reached (an etcd cluster that is
// down or has lost its quorum). Nothing was saved; reads of records the
// node holds in memory go on working.
var ErrUnavailable = errors.New("store: unavailable")

// ErrNoSpace: the store has no room left for the write (a full disk, or an
// etcd cluster at its space quota). Nothing was saved.
var ErrNoSpace = errors.New("store: no space left")
