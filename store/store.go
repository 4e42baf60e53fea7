package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Errors returned by the store; callers inspect them with errors.Is. The
// store wraps them with context, so compare with errors.Is, never ==.
var (
	// ErrNotFound: no such account, bin or revision, or a bin that belongs
	// to another account (which must look the same as a missing one).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: the revision a write was based on is not the current one.
	ErrConflict = errors.New("store: revision conflict")
	// ErrUnauthorized: an unknown account SID or a wrong auth token.
	ErrUnauthorized = errors.New("store: bad credentials")
	// ErrBadPageToken: a page token that ListBins did not make.
	ErrBadPageToken = errors.New("store: bad page token")
	// ErrLocked: Open waited LockTimeout for the database file, which another
	// process (or another DB in this one) holds open.
	ErrLocked = errors.New("store: database file is in use by another process")
	// ErrReadOnly: a write to a DB opened with Options.ReadOnly.
	ErrReadOnly = errors.New("store: database is open read-only")
	// ErrQuota: a write that would take an account past one of its quotas
	// (Options.MaxBinsPerAccount, Options.MaxBytesPerAccount). Nothing was
	// saved. The error is a *QuotaError, which says which quota and by how
	// much.
	ErrQuota = errors.New("store: account quota reached")
	// ErrCorrupt: the database file is damaged or is not a database. The
	// error says what is wrong with which file; the way out is a backup,
	// or moving the file away to start with an empty database.
	ErrCorrupt = errors.New("store: corrupt database file")
)

// ErrPruned: a revision older than the Options.RevisionsKept newest of its
// bin, deleted when a newer one was saved. It wraps ErrNotFound, so that
// callers that only look for a missing revision find it too.
var ErrPruned = fmt.Errorf("store: revision pruned: %w", ErrNotFound)

// Defaults for the zero fields of Options, and the lock wait of Open.
const (
	DefaultFlushInterval = time.Second
	DefaultEventLimit    = 100
	DefaultRevisionsKept = 100
	LockTimeout          = time.Second
)

// Options tune a DB; the zero value gives the defaults.
type Options struct {
	// FlushInterval is how often buffered usage counters and events are
	// written; a crash loses at most this much of them. Default 1s.
	FlushInterval time.Duration
	// EventLimit is how many events are kept per bin, newest first.
	// Default 100.
	EventLimit int
	// RevisionsKept is how many revisions are kept per bin, the newest:
	// saving one more deletes the oldest, in the same transaction. A bin
	// holding more (saved by an earlier version, or under a larger
	// setting) is pruned at its next save. Default 100.
	RevisionsKept int
	// MaxBinsPerAccount bounds the bins an account holds; 0 means no bound.
	MaxBinsPerAccount int
	// MaxBytesPerAccount bounds the bytes of template text an account
	// stores, counted over every kept revision of every bin; 0 means no
	// bound. A write that would pass it fails with ErrQuota, unless it
	// leaves the account's total no larger than it was.
	MaxBytesPerAccount int64
	// NoSync skips fsync on commit: faster, and a crash may lose or corrupt
	// anything. For tests and benchmarks only.
	NoSync bool
	// ReadOnly opens an existing file for reading only, for when it cannot
	// be written (a read-only file or file system) or must not be (a copy
	// being inspected). Every write fails with ErrReadOnly. Usage counters
	// and events are kept in memory only, so reads still show them, and
	// are lost at Close. Other processes may hold the file open read-only
	// at the same time, but not for writing.
	ReadOnly bool
	// Check runs bbolt's consistency check over the whole file at Open,
	// which refuses the file when it finds a problem. Open runs it anyway
	// when the file was not closed cleanly. It reads every page.
	Check bool
}

// DB is a twimlbin database: one bbolt file holding accounts, bins, their
// revisions, usage counters and event logs. It is safe for concurrent use by
// multiple goroutines. Each method that reads or writes runs in one bbolt
// transaction of its own; bin writes are committed (and synced) before the
// method returns. Usage counters and events are buffered in memory and
// written by a background goroutine every FlushInterval.
type DB struct {
	bolt *bbolt.DB
	opts Options

	// Decoded accounts, checked against the stored bytes on every read.
	accounts *recordCache[accountRecord]

	// Write generations of bins and accounts; see generation.go.
	gens *Generations

	// The key that signs session cookies: nil when a read-only file has
	// none; replaced by ImportSessionKey.
	sessionKey atomic.Pointer[[]byte]

	usage   *usageTable // every bin's usage counters; see counters.go
	usageMu sync.Mutex  // held by whoever hands out or takes back slots, and by the flush
	buf     buffer      // events not yet written; see usage.go
	flushMu sync.Mutex  // one flush at a time, so batches commit in order

	flushErrors atomic.Uint64
	broken      atomic.Bool   // a write transaction could not be rolled back; see update
	stop        chan struct{} // closed by Close to end the flusher
	flusherDone chan struct{} // closed when the flusher has returned
	closeOnce   sync.Once
	closeErr    error
}

// Open opens the database at path, creating it (mode 0600, and its directory
// with mode 0700) when it does not exist, creates the missing buckets and
// runs the schema migrations it has not had yet, all in one transaction.
// It starts the goroutine that flushes usage counters; Close stops it.
//
// A bbolt file can be open in one place only. When another process holds
// it, Open gives up after LockTimeout with an error wrapping ErrLocked.
// A database written by a newer version of twimlbin is refused.
//
// Open refuses a file that is not a sound database with an error wrapping
// ErrCorrupt: an empty file, one that is not a bbolt file, one shorter
// than its data (truncated), and one whose usage slots or blocks are out
// of range or whose pages Open reads are damaged. When the file was not
// closed cleanly (the process holding it died), or with Options.Check,
// Open first runs bbolt's consistency check over every page. Should bbolt
// panic on a damaged file while opening it for writing, the file stays
// open and locked until the process exits: bbolt gives no handle to close
// it.
func Open(path string, opts Options) (*DB, error) {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.EventLimit <= 0 {
		opts.EventLimit = DefaultEventLimit
	}
	if opts.RevisionsKept <= 0 {
		opts.RevisionsKept = DefaultRevisionsKept
	}
	info, statErr := os.Stat(path)
	switch {
	case statErr == nil && info.Size() == 0:
		// bbolt would make it a new database.
		return nil, fmt.Errorf("%w %s: it is empty (0 bytes), not a database: delete it to start a new database, or restore a backup made with \"twimlbin backup\"", ErrCorrupt, path)
	case opts.ReadOnly && statErr != nil:
		// bbolt would create a missing file even read-only.
		return nil, fmt.Errorf("store: open %s read-only: %w", path, statErr)
	case !opts.ReadOnly:
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
	}
	if statErr == nil {
		if err := inspect(path, opts); err != nil {
			return nil, err
		}
	}
	bdb, err := openBolt(path, opts, statErr == nil)
	if err != nil {
		return nil, err
	}
	usage := newUsageTable()
	generation, sessionKey, err := prepare(bdb, opts, usage)
	if err != nil {
		_ = bdb.Close()
		return nil, err
	}

	db := &DB{
		bolt:        bdb,
		opts:        opts,
		accounts:    newRecordCache[accountRecord](cacheBudget),
		gens:        NewGenerations(),
		usage:       usage,
		stop:        make(chan struct{}),
		flusherDone: make(chan struct{}),
	}
	if sessionKey != nil {
		db.sessionKey.Store(&sessionKey)
	}
	db.buf.init(generation+1, opts.EventLimit)
	if opts.ReadOnly {
		close(db.flusherDone)
	} else {
		go db.flusher()
	}
	return db, nil
}

// openBolt opens the bbolt file at path, which existed before when
// existed is true. bbolt's refusal of an existing file, other than for
// the lock or an error of the file system, and its panic on a damaged
// one, are ErrCorrupt.
func openBolt(path string, opts Options, existed bool) (bdb *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(path, &err)
	bdb, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: LockTimeout, NoSync: opts.NoSync, ReadOnly: opts.ReadOnly})
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case err == nil:
		return bdb, nil
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("store: open %s: waited %s for the file lock: %w", path, LockTimeout, ErrLocked)
	case existed && !errors.As(err, &pathErr) && !errors.As(err, &errno):
		return nil, corrupt(path, fmt.Errorf("it is not a bbolt database: %w", err))
	}
	return nil, fmt.Errorf("store: open %s: %w", path, err)
}

// inspect checks the existing file at path before Open uses it: that it
// is a bbolt file as long as its data, and, when it was not closed cleanly
// or opts.Check asks, that bbolt's consistency check finds no problem. It
// opens the file read-only, which reads no page beyond the meta pages
// until asked to: opened for writing, bbolt reads its list of free pages
// at once, and a panic there would leave the file open and locked.
func inspect(path string, opts Options) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(path, &err)
	bdb, err := openBolt(path, Options{ReadOnly: true}, true)
	if err != nil {
		return err
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bbolt.Tx) error {
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		if info.Size() < tx.Size() {
			return corrupt(path, fmt.Errorf("it is %d bytes, shorter than the %d bytes its data reaches: it was truncated", info.Size(), tx.Size()))
		}
		unclean := false
		if meta := tx.Bucket(bucketMeta); meta != nil {
			unclean = meta.Get(keyOpenForWriting) != nil
		}
		if !unclean && !opts.Check {
			return nil
		}
		if err := consistency(tx, openCheckProblems); err != nil {
			if unclean {
				return corrupt(path, fmt.Errorf("it was not closed cleanly, and the consistency check found: %w", err))
			}
			return corrupt(path, fmt.Errorf("the consistency check found: %w", err))
		}
		return nil
	})
	return wrapOpen(path, err)
}

// prepare brings the schema of the opened file up to date, marks it open
// for writing and loads the usage counters into usage. It returns the last
// flush generation written and the session key (made now when the file
// has none and is open for writing; nil when it is read-only).
func prepare(bdb *bbolt.DB, opts Options, usage *usageTable) (generation uint64, sessionKey []byte, err error) {
	path := bdb.Path()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(path, &err)
	// A file opened read-only is neither migrated nor marked: a file left
	// unclean stays so, and is checked at every open until one for writing
	// closes it cleanly.
	update := bdb.Update
	if opts.ReadOnly {
		update = bdb.View
	}
	err = update(func(tx *bbolt.Tx) error {
		if opts.ReadOnly {
			if err := checkSchema(tx, migrations); err != nil {
				return err
			}
		} else if err := setup(tx, migrations); err != nil {
			return err
		} else if err := tx.Bucket(bucketMeta).Put(keyOpenForWriting, u64(1)); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		generation = getU64(meta, keyFlushGeneration)
		var err error
		if sessionKey, err = loadSessionKey(meta, !opts.ReadOnly); err != nil {
			return corrupt(path, err)
		}
		if err := usage.load(tx); err != nil {
			return corrupt(path, err)
		}
		return nil
	})
	if err != nil {
		return 0, nil, wrapOpen(path, err)
	}
	return generation, sessionKey, nil
}

// wrapOpen names the file in an error of Open; an ErrCorrupt error names
// it already.
func wrapOpen(path string, err error) error {
	if err == nil || errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("store: open %s: %w", path, err)
}

// openCheckProblems is how many problems of the consistency check an
// error of Open lists: one damaged page can make hundreds.
const openCheckProblems = 5

// consistency runs bbolt's consistency check in tx and returns the
// problems it finds joined into one error, at most limit of them (all
// when limit is 0) and how many more, or nil when there are none.
func consistency(tx *bbolt.Tx, limit int) error {
	var errs []error
	more := 0
	for err := range tx.Check() {
		if limit > 0 && len(errs) == limit {
			more++
			continue
		}
		errs = append(errs, err)
	}
	if more > 0 {
		errs = append(errs, fmt.Errorf("and %d more problems", more))
	}
	return errors.Join(errs...)
}

// corrupt is the error for a file found damaged: what is wrong with which
// file, and what to do.
func corrupt(path string, problem error) error {
	return fmt.Errorf("%w %s: %w; restore it from a backup made with \"twimlbin backup\", or move it away to start with an empty database", ErrCorrupt, path, problem)
}

// recoverCorrupt, deferred, turns a panic while reading the file at path
// into an ErrCorrupt error in *err: bbolt panics on a page it finds
// damaged. A fault reading the memory the file is mapped to (a file cut
// short, a disk read error) ends the process instead, unless the function
// also turns runtime/debug.SetPanicOnFault on, as Open, view and update
// do:
//
//	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
//	defer recoverCorrupt(path, &err)
//
// A panic that began elsewhere, in the store's own code, is a bug, not
// damage: it goes on, rather than tell the operator to restore a backup
// and lose what was saved since.
func recoverCorrupt(path string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	if !panicFromFile(r) {
		panic(r)
	}
	*err = corrupt(path, fmt.Errorf("reading it failed: %v", r))
}

// panicFromFile reports whether the panic being recovered, r, began in
// bbolt or as a fault reading mapped memory beyond the first page (which
// panics only where SetPanicOnFault is on): where damage in the file
// shows. Called from a deferred function, it reads the panicking
// goroutine's stack: the first frame outside the runtime below its first
// panic is where that panic began (a panic re-raised by a deferred
// function, as update's, is followed down to the first).
func panicFromFile(r any) bool {
	if fault, ok := r.(interface{ Addr() uintptr }); ok && fault.Addr() >= 4096 {
		return true
	}
	pcs := make([]uintptr, 128)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	origin, inPanic := "", false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			origin, inPanic = "", true
		case inPanic && origin == "" && !strings.HasPrefix(f.Function, "runtime."):
			origin = f.Function
		}
		if !more {
			return strings.HasPrefix(origin, "go.etcd.io/bbolt")
		}
	}
}

// ReadOnly reports whether the DB was opened with Options.ReadOnly.
func (db *DB) ReadOnly() bool {
	return db.opts.ReadOnly
}

// SessionKey returns the key that signs the web form's session cookies:
// 32 random bytes made once, when the file was first opened for writing,
// and kept in it, so that sessions outlast a restart (and are in every
// backup). ErrNotFound when the file, opened read-only, has none yet.
func (db *DB) SessionKey() ([]byte, error) {
	key := db.sessionKey.Load()
	if key == nil {
		return nil, fmt.Errorf("store: session key: the read-only database holds none: %w", ErrNotFound)
	}
	return append([]byte(nil), *key...), nil
}

// loadSessionKey returns the stored session key, creating it first when
// there is none and create is set; nil when there is none.
func loadSessionKey(meta *bbolt.Bucket, create bool) ([]byte, error) {
	if v := meta.Get(keySessionKey); v != nil {
		if len(v) != sessionKeySize {
			return nil, fmt.Errorf("session key: %d bytes, want %d", len(v), sessionKeySize)
		}
		return append([]byte(nil), v...), nil
	}
	if !create {
		return nil, nil
	}
	key := make([]byte, sessionKeySize)
	_, _ = rand.Read(key) // never fails (crypto/rand since Go 1.24)
	return key, meta.Put(keySessionKey, key)
}

// view runs fn in a read transaction. A damaged page it reaches fails it
// with ErrCorrupt rather than panicking, and so does a page of the mapped
// file that cannot be read (a file cut short, a disk read error), which
// would otherwise end the process with a fault. Turning faults into panics
// costs two calls that swap a flag of the goroutine.
func (db *DB) view(fn func(*bbolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(db.bolt.Path(), &err)
	return db.bolt.View(fn)
}

// update runs fn in a write transaction, or fails with ErrReadOnly. A
// damaged or unreadable page it reaches fails it with ErrCorrupt, as in
// view. When even rolling the transaction back fails on one, bbolt still
// holds its writer's lock: every later write fails at once with
// ErrCorrupt, and Close leaves the file to the end of the process.
func (db *DB) update(fn func(*bbolt.Tx) error) (err error) {
	if db.opts.ReadOnly {
		return ErrReadOnly
	}
	if db.broken.Load() {
		return corrupt(db.bolt.Path(), errors.New("a write found it damaged, and writes stopped; restart to have it checked"))
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(db.bolt.Path(), &err)
	tx, err := db.bolt.Begin(true)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			if !rollback(tx) {
				db.broken.Store(true)
			}
			panic(r)
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// rollback rolls tx back after a panic and reports whether that finished.
func rollback(tx *bbolt.Tx) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_ = tx.Rollback()
	return true
}

// Close stops the background flusher, writes the buffered usage counters
// and events, marks the file closed cleanly, so that the next Open skips
// the consistency check, and closes the file. It returns the flush's and
// the mark's errors, if any, along with the close's. Calling Close again
// does nothing and returns the same result. No other method may be called
// after Close.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.stop)
		<-db.flusherDone
		db.closeErr = errors.Join(db.Flush(), db.markClosed())
		if db.broken.Load() {
			// bbolt's Close would wait for the writer's lock forever.
			return
		}
		db.closeErr = errors.Join(db.closeErr, db.bolt.Close())
	})
	return db.closeErr
}

// markClosed removes the mark Open leaves in a file opened for writing.
func (db *DB) markClosed() error {
	if db.opts.ReadOnly {
		return nil
	}
	err := db.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete(keyOpenForWriting)
	})
	if err != nil {
		return fmt.Errorf("store: mark closed: %w", err)
	}
	return nil
}

// flusher calls Flush every FlushInterval until Close. A failed flush keeps
// its batch in memory and the next one retries it.
func (db *DB) flusher() {
	defer close(db.flusherDone)
	t := time.NewTicker(db.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			if err := db.Flush(); err != nil {
				db.flushErrors.Add(1)
			}
		}
	}
}

// Backup writes a consistent copy of the whole database to w while the
// database stays in use (a bbolt read transaction's WriteTo), and returns
// the number of bytes written. The copy is itself a database that Open
// accepts. Usage counters and events still buffered in memory, at most
// FlushInterval's worth, are not in it; call Flush first to include them.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// Check runs bbolt's consistency check over the whole file and returns
// every problem it finds joined into one error wrapping ErrCorrupt, or nil
// when the file is sound. It reads every page: for tests and readiness
// probes, not for every request.
func (db *DB) Check() error {
	err := db.view(func(tx *bbolt.Tx) error {
		if err := consistency(tx, 0); err != nil {
			return corrupt(db.bolt.Path(), fmt.Errorf("the consistency check found: %w", err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	return nil
}

// Stats are figures about a DB for metrics.
type Stats struct {
	Accounts int // accounts stored
	Bins     int // bins stored
	// PendingUsageBlocks is how many blocks of usage counters (of up to
	// 128 bins each) changed since the last flush, and PendingEventBins how
	// many bins have events waiting for the next one.
	PendingUsageBlocks int
	PendingEventBins   int
	// FlushErrors counts background flushes that failed since Open.
	FlushErrors uint64
	// FileSize is the size in bytes of the data in the file, as of the
	// read; the file itself may be larger by preallocated space.
	FileSize int64
}

// Stats returns the current figures. Reading them costs one short read
// transaction; when it fails, the stored counts are zero.
func (db *DB) Stats() Stats {
	s := Stats{
		PendingUsageBlocks: db.usage.dirtyBlocks(),
		PendingEventBins:   db.buf.pendingBins(),
		FlushErrors:        db.flushErrors.Load(),
	}
	_ = db.view(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		s.Accounts = int(getU64(meta, keyAccountCount))
		s.Bins = int(getU64(meta, keyBinCount))
		s.FileSize = tx.Size()
		return nil
	})
	return s
}

// now is the time records are stamped with: UTC, without the monotonic
// reading, so a record read back compares equal to the one returned.
func now() time.Time {
	return time.Now().UTC().Round(0)
}

// wrap names the operation in an unexpected error. The store's own errors
// already say what was not found or in conflict, and pass unchanged.
func wrap(op string, err error) error {
	for _, known := range []error{ErrNotFound, ErrConflict, ErrUnauthorized, ErrBadPageToken, ErrReadOnly, ErrBadFriendlyName, ErrBadRenderPolicy, ErrTemplateTooLarge, ErrBadTwilioAuthToken, ErrQuota, ErrCorrupt} {
		if errors.Is(err, known) {
			return err
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}
