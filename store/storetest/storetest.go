// Package storetest is the conformance suite of store.Store: the behaviour
// every backend keeps, checked through the exported surface only, so that
// the same tests run unchanged against the bbolt file (store.DB) and any
// other backend. A backend runs it from a test of its own:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Backend{NewStorage: ...})
//	}
//
// What only one backend does (bbolt's file format, its migrations, its
// usage blocks, read-only files, Check) is tested beside that backend.
package storetest

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

// Backend is a store implementation as the suite runs it.
type Backend struct {
	// NewStorage makes storage for test t alone that starts empty (a file
	// under t.TempDir(), a key prefix of its own in an etcd cluster), and
	// returns what opens a Store on it. It removes the storage, if need
	// be, when t ends.
	NewStorage func(t *testing.T) Opener
	// Shared says that two Stores may be open on the same storage at
	// once, as two twimlbin nodes over one etcd cluster are. The tests of
	// what one Store sees of the other's writes run only then; a backend
	// whose storage takes one Store at a time (bbolt locks its file)
	// leaves it false, and those tests are skipped.
	Shared bool
	// Check, when set, is called on every Store the suite opened just
	// before the suite closes it, and an error fails the test: a place
	// for the backend's own consistency check.
	Check func(store.Store) error
}

// Opener opens a Store with opts on the storage of one test. Every call
// opens another Store on the same storage: once the previous one is
// closed, it is the process restarted; while it is still open (only on a
// Shared backend), it is a second node.
//
// The suite passes NoSync and an hour's FlushInterval, so that nothing is
// flushed but by Flush and Close, and sets EventLimit, RevisionsKept,
// MaxBinsPerAccount and MaxBytesPerAccount where a test is about them. A
// backend keeps to every field but NoSync, which it may ignore, and
// ReadOnly, which the suite never sets.
type Opener func(opts store.Options) (store.Store, error)

// options are what most tests open a Store with: no fsync, and no flush
// of its own during a test, so that what is buffered and what is written
// is up to the test, which calls Flush when it means to.
var options = store.Options{NoSync: true, FlushInterval: time.Hour}

// Run runs every conformance test against b, one after the other, each
// as a subtest of t with storage of its own. A test closes every Store it
// opened before it ends.
func Run(t *testing.T, b Backend) {
	if b.NewStorage == nil {
		t.Fatal("storetest.Run: Backend.NewStorage is nil; set it to a function that makes empty storage for one test")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newEnv(t, b))
		})
	}
}

// tests are the conformance tests, named as their subtests are.
var tests = []struct {
	name string
	run  func(*testing.T, *env)
}{
	// Accounts and authentication.
	{"CreateAccount", testCreateAccount},
	{"CountAccountsEmpty", testCountAccountsEmpty},
	{"CreateFirstAccount", testCreateFirstAccount},
	{"AccountNotFound", testAccountNotFound},
	{"Authenticate", testAuthenticate},
	{"UpdateAccount", testUpdateAccount},
	{"TwilioAuthToken", testTwilioAuthToken},
	{"RotateAuthToken", testRotateAuthToken},
	{"SessionEpoch", testSessionEpoch},
	{"SessionKeyIsKept", testSessionKeyIsKept},
	{"FriendlyNameErrors", testFriendlyNameErrors},

	// Bins, revisions and pages.
	{"CreateBin", testCreateBin},
	{"BinLookups", testBinLookups},
	{"UpdateBin", testUpdateBin},
	{"UpdateBinConcurrent", testUpdateBinConcurrent},
	{"DeleteBin", testDeleteBin},
	{"Revisions", testRevisions},
	{"RestoreRevision", testRestoreRevision},
	{"RevisionsPruned", testRevisionsPruned},
	{"ListBins", testListBins},
	{"QuotaBins", testQuotaBins},
	{"QuotaBytes", testQuotaBytes},

	// Usage counters and events.
	{"RecordRequestConcurrent", testRecordRequestConcurrent},
	{"RecordRequestUnknownBin", testRecordRequestUnknownBin},
	{"UsageWhileFlushing", testUsageWhileFlushing},
	{"CounterOfDeletedBin", testCounterOfDeletedBin},
	{"CountWhileBinsComeAndGo", testCountWhileBinsComeAndGo},
	{"Events", testEvents},
	{"EventsAreBoundedInBytes", testEventsAreBoundedInBytes},
	{"EventsWhileFlushing", testEventsWhileFlushing},

	// Generations.
	{"GenerationGrowsWithEveryWrite", testGenerationGrowsWithEveryWrite},
	{"GenerationConcurrent", testGenerationConcurrent},

	// The store as a whole.
	{"ReopenKeepsEverything", testReopenKeepsEverything},
	{"Backup", testBackup},
	{"Stats", testStats},
	{"CloseTwice", testCloseTwice},

	// Two Stores on the same storage, for Shared backends.
	{"SecondStoreSeesWrites", testSecondStoreSeesWrites},
}

// env is one test's storage and the Stores open on it. Its methods fail
// the test through env.t, so call them from the test's own goroutine, not
// from a nested t.Run or a goroutine it starts.
type env struct {
	t       *testing.T
	backend Backend
	opener  Opener
	stores  []store.Store // open, closed when the test ends
}

func newEnv(t *testing.T, b Backend) *env {
	e := &env{t: t, backend: b, opener: b.NewStorage(t)}
	require.NotNil(t, e.opener, "Backend.NewStorage returned a nil Opener")
	t.Cleanup(func() {
		for _, s := range slices.Backward(e.stores) {
			e.closeChecked(s)
		}
	})
	return e
}

// open opens a Store on the test's storage, closed when the test ends
// unless the test closes it first with e.close.
func (e *env) open(opts store.Options) store.Store {
	e.t.Helper()
	s, err := e.opener(opts)
	require.NoError(e.t, err, "open a store")
	e.stores = append(e.stores, s)
	return s
}

// close runs the backend's check on s and closes it.
func (e *env) close(s store.Store) {
	e.t.Helper()
	i := slices.Index(e.stores, s)
	require.GreaterOrEqual(e.t, i, 0, "close: the store is not one the test has open")
	e.stores = slices.Delete(e.stores, i, i+1)
	e.closeChecked(s)
}

func (e *env) closeChecked(s store.Store) {
	e.t.Helper()
	if e.backend.Check != nil {
		assert.NoError(e.t, e.backend.Check(s), "the backend's check before closing")
	}
	assert.NoError(e.t, s.Close(), "close")
}

// reopen closes s and opens the storage again with opts, as a restart.
func (e *env) reopen(s store.Store, opts store.Options) store.Store {
	e.t.Helper()
	e.close(s)
	return e.open(opts)
}

// Inputs that name nothing stored.
const (
	unknownAccount = "AC00000000000000000000000000000000"
	unknownBin     = "EH00000000000000000000000000000000"
)

var (
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-f]{32}$`)
	binSIDPattern     = regexp.MustCompile(`^EH[0-9a-f]{32}$`)
	tokenPattern      = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// newAccount creates an account and returns its SID and auth token.
func newAccount(t testing.TB, s store.Store) (string, string) {
	t.Helper()
	acct, token, err := s.CreateAccount("test")
	require.NoError(t, err)
	return acct.SID, token
}

// newBin creates a bin of the account with a template naming name.
func newBin(t testing.TB, s store.Store, accountSID string, name string) store.Bin {
	t.Helper()
	b, err := s.CreateBin(accountSID, store.BinInput{
		FriendlyName: name,
		Template:     "<Response><Say>" + name + "</Say></Response>",
		RenderPolicy: "lenient",
	})
	require.NoError(t, err)
	return b
}

// templateOf is a template of exactly n bytes (at least 21) whose text
// names tag, so that templates of different tags differ.
func templateOf(tag string, n int) string {
	head := "<Response><Say>" + tag
	tail := "</Say></Response>"
	return head + strings.Repeat(".", n-len(head)-len(tail)) + tail
}

// codes are the codes of events, in their order.
func codes(events []store.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Code)
	}
	return out
}

// flushUntil flushes s over and over until stop is closed.
func flushUntil(t *testing.T, s store.Store, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
			assert.NoError(t, s.Flush())
		}
	}
}
