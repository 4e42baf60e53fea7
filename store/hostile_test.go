package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// TestSessionEpochOfOldRecord: an account record written before the
// session epoch existed reads as epoch 0.
func TestSessionEpochOfOldRecord(t *testing.T) {
	db := openTest(t)
	sid, _ := newAccount(t, db)
	_, err := db.EndSessions(sid)
	require.NoError(t, err)

	require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketAccounts).Put([]byte(sid), []byte(`{"sid":"`+sid+`","friendly_name":"Old","auth_token_sha256":null,"date_created":"2024-01-01T00:00:00Z","date_updated":"2024-01-01T00:00:00Z"}`))
	}))
	acct, err := db.Account(sid)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), acct.SessionEpoch)
}

// TestSessionKeyMissingReadOnly: a file from before the session key,
// opened read-only, has none.
func TestSessionKeyMissingReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	db, err := Open(path, testOptions)
	require.NoError(t, err)
	require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete(keySessionKey)
	}))
	require.NoError(t, db.Close())
	ro := openTestWith(t, path, Options{ReadOnly: true})
	_, err = ro.SessionKey()
	assert.ErrorIs(t, err, ErrNotFound)
}

// TestFriendlyNameRule: the one rule for friendly names, and what its
// errors say. That every write takes it is in the conformance suite.
func TestFriendlyNameRule(t *testing.T) {
	for name, want := range map[string]string{
		"":                      "",
		"Main line":             "",
		"Café ☎ 日本語 🎉":          "",
		strings.Repeat("é", 64): "",
		strings.Repeat("é", 65): "is 65 characters long; the limit is 64",
		"a\x00b":                "holds a NUL (U+0000) at character 2",
		"é\tb":                  "holds a tab (U+0009) at character 2",
		"ab\r\n":                "holds a carriage return (U+000D) at character 3",
		"\x1b[0m":               "holds an escape (U+001B) at character 1",
		"a\u0085":               "holds a control character (U+0085) at character 2",
		"a\u2028":               "holds a line separator (U+2028) at character 2",
		"ab\xff":                "is not UTF-8 text: byte 3 is not part of a character",
	} {
		err := CheckFriendlyName(name)
		if want == "" {
			assert.NoError(t, err, "%q", name)
			continue
		}
		var fe *FriendlyNameError
		require.ErrorAs(t, err, &fe, "%q", name)
		assert.ErrorIs(t, err, ErrBadFriendlyName)
		assert.Contains(t, fe.Problem, want)
	}
}

// TestFriendlyNameStoredBeforeTheRule: a bin named under older rules can
// still be changed, keeping its name, and an old revision restored as it
// was.
func TestFriendlyNameStoredBeforeTheRule(t *testing.T) {
	db := openTest(t)
	sid, _ := newAccount(t, db)
	bad := "line\nbreak"
	b := newBin(t, db, sid, "fine")
	require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
		rec, err := findBin(tx, sid, b.SID)
		if err != nil {
			return err
		}
		rec.FriendlyName = bad
		return putBin(tx, rec)
	}))
	updated, err := db.UpdateBin(sid, b.SID, 0, BinInput{FriendlyName: bad, Template: "<Response><Hangup/></Response>", RenderPolicy: "lenient"})
	require.NoError(t, err, "the name it has is kept")
	restored, err := db.RestoreRevision(sid, b.SID, 1, updated.Revision)
	require.NoError(t, err, "an old revision is restored as it was")
	assert.Equal(t, bad, restored.FriendlyName)
}

// templateOf is a template of exactly n bytes (at least 21) whose text
// names tag, so that templates of different tags differ.
func templateOf(tag string, n int) string {
	head := "<Response><Say>" + tag
	tail := "</Say></Response>"
	return head + strings.Repeat(".", n-len(head)-len(tail)) + tail
}

// TestHostileDBFileStopsGrowing: updating one bin again and again does not
// grow the database once its kept revisions are written.
func TestHostileDBFileStopsGrowing(t *testing.T) {
	opts := testOptions
	opts.RevisionsKept = 10
	db := openTestWith(t, filepath.Join(t.TempDir(), "twimlbin.db"), opts)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "grow")
	update := func(i int) {
		_, err := db.UpdateBin(acct, b.SID, 0, BinInput{Template: templateOf(fmt.Sprint(i), 16<<10), RenderPolicy: "lenient"})
		require.NoError(t, err)
	}
	for i := range 50 {
		update(i)
	}
	warm := db.Stats().FileSize
	for i := range 500 {
		update(50 + i)
	}
	after := db.Stats().FileSize
	t.Logf("database file: %d bytes after 50 updates of 16 KiB templates, %d after 500 more (10 revisions kept)", warm, after)
	assert.LessOrEqual(t, after, 2*warm, "file size %d bytes after warming up, %d after 500 more updates", warm, after)
}

// quotaInput is a bin of a template of exactly n bytes.
func quotaInput(tag string, n int) BinInput {
	return BinInput{FriendlyName: tag, Template: templateOf(tag, n), RenderPolicy: "lenient"}
}

// TestHostileQuotaMigration: a database written before quotas gets each
// account's bins and bytes counted when it is first opened, and keeps
// every revision until the bin's next save prunes them.
func TestHostileQuotaMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	opts := testOptions
	opts.RevisionsKept = 1000
	db, err := Open(path, opts)
	require.NoError(t, err)
	acct, _ := newAccount(t, db)
	a, err := db.CreateBin(acct, quotaInput("a", 100))
	require.NoError(t, err)
	for i := range 9 {
		_, err := db.UpdateBin(acct, a.SID, 0, quotaInput(fmt.Sprint("a", i), 200))
		require.NoError(t, err)
	}
	_, err = db.CreateBin(acct, quotaInput("b", 50))
	require.NoError(t, err)
	// Take the database back to before the quotas: no counts in the
	// account records or the bins', schema version 3.
	require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketAccounts, bucketBins} {
			b := tx.Bucket(name)
			old := map[string]map[string]any{}
			require.NoError(t, b.ForEach(func(k, v []byte) error {
				var rec map[string]any
				require.NoError(t, decode(k, v, &rec))
				delete(rec, "bins")
				delete(rec, "bytes")
				old[string(k)] = rec
				return nil
			}))
			for k, rec := range old {
				require.NoError(t, put(b, []byte(k), rec))
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, u64(3))
	}))
	require.NoError(t, db.Close())

	opts.RevisionsKept = 3
	db = openTestWith(t, path, opts)
	got, err := db.Account(acct)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Bins)
	assert.Equal(t, int64(100+9*200+50), got.TemplateBytes, "every revision counted")
	revs, err := db.Revisions(acct, a.SID)
	require.NoError(t, err)
	assert.Len(t, revs, 10, "kept until the next save")
	_, err = db.UpdateBin(acct, a.SID, 0, quotaInput("pruned", 200))
	require.NoError(t, err)
	revs, err = db.Revisions(acct, a.SID)
	require.NoError(t, err)
	assert.Len(t, revs, 3, "pruned at the next save")
	got, err = db.Account(acct)
	require.NoError(t, err)
	assert.Equal(t, int64(3*200+50), got.TemplateBytes)
}

// A database file damaged on disk (truncated, scribbled over, a flipped
// byte) must be refused at Open with an error wrapping ErrCorrupt that
// names the file and says what to do, without panicking and without
// allocating what a corrupt number asks for; what Open does not read must
// fail a request with ErrCorrupt, not take the process down.

// hostileFile is a closed database of bins bins, each with a template of
// about templateSize bytes, and what it holds.
type hostileFile struct {
	path string
	acct string
	bins []Bin
}

func newHostileFile(t *testing.T, bins, templateSize int) hostileFile {
	t.Helper()
	f := hostileFile{path: filepath.Join(t.TempDir(), "twimlbin.db")}
	db, err := Open(f.path, testOptions)
	require.NoError(t, err)
	f.acct, _ = newAccount(t, db)
	pad := strings.Repeat("x", templateSize)
	for i := range bins {
		b, err := db.CreateBin(f.acct, BinInput{
			FriendlyName: "bin",
			Template:     "<Response><Say>" + pad + "</Say></Response>",
			RenderPolicy: "lenient",
		})
		require.NoError(t, err, "bin %d", i)
		f.bins = append(f.bins, b)
	}
	db.RecordRequest(f.bins[0].SID, now())
	require.NoError(t, db.Close())
	return f
}

// edit changes the closed file with bbolt directly.
func (f hostileFile) edit(t *testing.T, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	bdb, err := bbolt.Open(f.path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(fn))
	require.NoError(t, bdb.Close())
}

// setSlot stores slot as the usage slot of bin i.
func (f hostileFile) setSlot(t *testing.T, i int, slot func(old uint32) uint32) {
	t.Helper()
	f.edit(t, func(tx *bbolt.Tx) error {
		key := seqKey(f.acct, seqOfBin(t, tx, f.bins[i].SID))
		list := tx.Bucket(bucketAccountBins)
		_, old, err := parseAccountBin(key, list.Get(key))
		require.NoError(t, err)
		return list.Put(key, accountBinValue(f.bins[i].SID, slot(old)))
	})
}

// scribble overwrites with random bytes every page of the file that holds
// pattern: the live page and any stale copy of it.
func (f hostileFile) scribble(t *testing.T, pattern []byte) {
	t.Helper()
	data, err := os.ReadFile(f.path)
	require.NoError(t, err)
	page := os.Getpagesize()
	rnd := rand.New(rand.NewPCG(1, 2))
	hit := 0
	for off := 2 * page; off+page <= len(data); off += page {
		if bytes.Contains(data[off:off+page], pattern) {
			for i := range page {
				data[off+i] = byte(rnd.Uint32())
			}
			hit++
		}
	}
	require.NotZero(t, hit, "no page holds the pattern")
	require.NoError(t, os.WriteFile(f.path, data, 0o600))
}

// binPage is a pattern found only in the bins bucket's page that holds
// bin b: its key followed by its record.
func binPage(b Bin) []byte {
	return []byte(b.SID + `{"sid":"` + b.SID)
}

// listPage is a pattern found only in the account_bins page that holds
// bin b: its key followed by its value.
func (f hostileFile) listPage(t *testing.T, b Bin) []byte {
	t.Helper()
	var key []byte
	bdb, err := bbolt.Open(f.path, 0o600, &bbolt.Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, bdb.View(func(tx *bbolt.Tx) error {
		key = seqKey(f.acct, seqOfBin(t, tx, b.SID))
		return nil
	}))
	require.NoError(t, bdb.Close())
	return append(key, b.SID...)
}

// requireCorrupt checks that err is Open's refusal of a corrupt file.
func requireCorrupt(t *testing.T, err error, path string, more ...string) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrCorrupt), "want ErrCorrupt, got: %v", err)
	for _, want := range append([]string{path}, more...) {
		assert.Contains(t, err.Error(), want)
	}
}

// allocated returns the bytes allocated while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// openBudget is more than Open of the small files below allocates, and far
// less than a table sized by a corrupt slot number would take.
const openBudget = 32 << 20

func TestHostileCorruptFiles(t *testing.T) {
	restore := "twimlbin backup"
	cases := []struct {
		name   string
		bins   int
		size   int
		opts   Options
		damage func(t *testing.T, f hostileFile)
		want   []string // in the message, besides the path
	}{
		{
			name: "empty file",
			damage: func(t *testing.T, f hostileFile) {
				require.NoError(t, os.Truncate(f.path, 0))
			},
			want: []string{"empty", "not a database", "delete it", restore},
		},
		{
			name: "garbage",
			damage: func(t *testing.T, f hostileFile) {
				rnd := rand.New(rand.NewPCG(3, 4))
				garbage := make([]byte, 64<<10)
				for i := range garbage {
					garbage[i] = byte(rnd.Uint32())
				}
				require.NoError(t, os.WriteFile(f.path, garbage, 0o600))
			},
			want: []string{restore, "move it away"},
		},
		{
			name: "truncated to a quarter",
			bins: 2000, size: 1000,
			damage: func(t *testing.T, f hostileFile) {
				info, err := os.Stat(f.path)
				require.NoError(t, err)
				require.NoError(t, os.Truncate(f.path, info.Size()/4))
			},
			want: []string{"truncated", restore},
		},
		{
			name: "truncated one page short",
			bins: 2000, size: 1000,
			damage: func(t *testing.T, f hostileFile) {
				bdb, err := bbolt.Open(f.path, 0o600, &bbolt.Options{ReadOnly: true})
				require.NoError(t, err)
				var size int64
				require.NoError(t, bdb.View(func(tx *bbolt.Tx) error { size = tx.Size(); return nil }))
				require.NoError(t, bdb.Close())
				require.NoError(t, os.Truncate(f.path, size-int64(os.Getpagesize())))
			},
			want: []string{"truncated", restore},
		},
		{
			name: "truncated inside its second page",
			damage: func(t *testing.T, f hostileFile) {
				require.NoError(t, os.Truncate(f.path, int64(os.Getpagesize())+100))
			},
			want: []string{restore},
		},
		{
			name: "slot one beyond the bins created",
			bins: 3,
			damage: func(t *testing.T, f hostileFile) {
				f.setSlot(t, 0, func(uint32) uint32 { return 3 })
			},
			want: []string{"usage slot 3", "3 bins", restore},
		},
		{
			name: "slot with its top byte flipped",
			bins: 3,
			damage: func(t *testing.T, f hostileFile) {
				f.setSlot(t, 1, func(old uint32) uint32 { return old ^ 0xff000000 })
			},
			want: []string{"usage slot 4278190081", restore},
		},
		{
			name: "slot with its third byte flipped",
			bins: 3,
			damage: func(t *testing.T, f hostileFile) {
				f.setSlot(t, 1, func(old uint32) uint32 { return old ^ 0x00400000 })
			},
			want: []string{"usage slot 4194305", restore},
		},
		{
			name: "slot shared by two bins",
			bins: 3,
			damage: func(t *testing.T, f hostileFile) {
				f.setSlot(t, 2, func(uint32) uint32 { return 0 })
			},
			want: []string{"usage slot 0", restore},
		},
		{
			name: "account_bins value cut short",
			bins: 3,
			damage: func(t *testing.T, f hostileFile) {
				f.edit(t, func(tx *bbolt.Tx) error {
					key := seqKey(f.acct, seqOfBin(t, tx, f.bins[0].SID))
					return tx.Bucket(bucketAccountBins).Put(key, []byte(f.bins[0].SID))
				})
			},
			want: []string{"decode account bin", restore},
		},
		{
			name: "usage block cut short",
			bins: 3,
			damage: func(t *testing.T, f hostileFile) {
				f.edit(t, func(tx *bbolt.Tx) error {
					return tx.Bucket(bucketUsageBlocks).Put(blockKey(0), make([]byte, 100))
				})
			},
			want: []string{"usage block", restore},
		},
		{
			name: "usage block key of 5 bytes",
			bins: 3,
			damage: func(t *testing.T, f hostileFile) {
				f.edit(t, func(tx *bbolt.Tx) error {
					return tx.Bucket(bucketUsageBlocks).Put([]byte{0, 0, 0, 0, 1}, make([]byte, blockSlots*usageRecordSize))
				})
			},
			want: []string{"usage block", restore},
		},
		{
			name: "usage block beyond every slot",
			bins: 3,
			damage: func(t *testing.T, f hostileFile) {
				f.edit(t, func(tx *bbolt.Tx) error {
					return tx.Bucket(bucketUsageBlocks).Put(blockKey(1), make([]byte, blockSlots*usageRecordSize))
				})
			},
			want: []string{"usage block 1", restore},
		},
		{
			name: "account_bins page scribbled over",
			bins: 2000, size: 100,
			damage: func(t *testing.T, f hostileFile) {
				f.scribble(t, f.listPage(t, f.bins[1000]))
			},
			want: []string{restore},
		},
		{
			name: "bins page scribbled over, with Options.Check",
			bins: 2000, size: 100,
			opts: Options{Check: true},
			damage: func(t *testing.T, f hostileFile) {
				f.scribble(t, binPage(f.bins[1000]))
			},
			want: []string{"consistency check", restore},
		},
		{
			name: "bins page scribbled over after an unclean stop",
			bins: 2000, size: 100,
			damage: func(t *testing.T, f hostileFile) {
				f.edit(t, func(tx *bbolt.Tx) error {
					return tx.Bucket(bucketMeta).Put(keyOpenForWriting, u64(1))
				})
				f.scribble(t, binPage(f.bins[1000]))
			},
			want: []string{"consistency check", "not closed cleanly", restore},
		},
		{
			name: "bins page scribbled over after an unclean stop, read-only",
			bins: 2000, size: 100,
			opts: Options{ReadOnly: true},
			damage: func(t *testing.T, f hostileFile) {
				f.edit(t, func(tx *bbolt.Tx) error {
					return tx.Bucket(bucketMeta).Put(keyOpenForWriting, u64(1))
				})
				f.scribble(t, binPage(f.bins[1000]))
			},
			want: []string{"consistency check", restore},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newHostileFile(t, max(c.bins, 1), c.size)
			c.damage(t, f)
			opts := testOptions
			opts.Check, opts.ReadOnly = c.opts.Check, c.opts.ReadOnly
			var db *DB
			var err error
			n := allocated(func() { db, err = Open(f.path, opts) })
			if err == nil {
				db.Close()
			}
			t.Log(err)
			assert.Less(t, n, uint64(openBudget), "Open allocated %d bytes", n)
			requireCorrupt(t, err, f.path, c.want...)
		})
	}
}

// TestHostileCorruptFilesAtTheEdge opens the files one step short of the
// corruptions above: they are sound and must open.
func TestHostileCorruptFilesAtTheEdge(t *testing.T) {
	t.Run("slot of the last bin created", func(t *testing.T) {
		// Bins 0, 1, 2 in slots 0, 1, 2; bin 2 deleted and bin 0 moved
		// into its slot, the highest a file of 3 bins created can use.
		f := newHostileFile(t, 3, 0)
		db, err := Open(f.path, testOptions)
		require.NoError(t, err)
		require.NoError(t, db.DeleteBin(f.acct, f.bins[2].SID, 0))
		require.NoError(t, db.Close())
		f.setSlot(t, 0, func(uint32) uint32 { return 2 })
		db = openTestWith(t, f.path, testOptions)
		_, err = db.Bin(f.acct, f.bins[0].SID)
		require.NoError(t, err)
	})
	t.Run("usage block of the last slot", func(t *testing.T) {
		f := newHostileFile(t, blockSlots+1, 0)
		f.edit(t, func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketUsageBlocks).Put(blockKey(1), make([]byte, blockSlots*usageRecordSize))
		})
		openTestWith(t, f.path, testOptions)
	})
	t.Run("a file closed cleanly after a check", func(t *testing.T) {
		f := newHostileFile(t, 3, 0)
		db, err := Open(f.path, Options{NoSync: true, Check: true})
		require.NoError(t, err)
		require.NoError(t, db.Close())
		bdb, err := bbolt.Open(f.path, 0o600, &bbolt.Options{ReadOnly: true})
		require.NoError(t, err)
		defer bdb.Close()
		require.NoError(t, bdb.View(func(tx *bbolt.Tx) error {
			assert.Nil(t, tx.Bucket(bucketMeta).Get(keyOpenForWriting), "Close clears the mark")
			return nil
		}))
	})
}

// TestHostileCorruptPageOnRequest opens a file with a scribbled page that
// Open does not read: the requests that reach it fail with ErrCorrupt and
// every other request still works.
func TestHostileCorruptPageOnRequest(t *testing.T) {
	f := newHostileFile(t, 2000, 100)
	f.scribble(t, binPage(f.bins[1000]))
	db, err := Open(f.path, testOptions)
	require.NoError(t, err, "Open reads no bin record of a file closed cleanly")
	defer db.Close()

	_, err = db.BinBySID(f.bins[1000].SID)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrCorrupt), "want ErrCorrupt, got: %v", err)
	token := ""
	for {
		var page Page
		if page, err = db.ListBins(f.acct, ListQuery{PageSize: MaxPageSize, PageToken: token, Templates: true}); err != nil || page.Next == "" {
			break
		}
		token = page.Next
	}
	assert.True(t, errors.Is(err, ErrCorrupt), "listing every bin: want ErrCorrupt, got: %v", err)
	_, err = db.UpdateBin(f.acct, f.bins[1000].SID, 0, BinInput{Template: "<Response/>", RenderPolicy: "lenient"})
	assert.True(t, errors.Is(err, ErrCorrupt), "want ErrCorrupt, got: %v", err)

	got, err := db.BinBySID(f.bins[0].SID)
	require.NoError(t, err, "a bin on a sound page")
	assert.Equal(t, f.bins[0].Template, got.Template)
	assert.True(t, errors.Is(db.Check(), ErrCorrupt), "Check")
}

// TestHostileFileCutShortWhileOpen cuts the file short under an open DB, as
// a read error of the disk would leave a page of the mapped file
// unreadable: reading a bin there must fail with ErrCorrupt, not end the
// process with a fault.
func TestHostileFileCutShortWhileOpen(t *testing.T) {
	f := newHostileFile(t, 2000, 1000)
	db, err := Open(f.path, testOptions)
	require.NoError(t, err)
	defer db.Close()
	info, err := os.Stat(f.path)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(f.path, info.Size()/4))

	failed := 0
	for _, b := range f.bins {
		if _, err := db.BinBySID(b.SID); err != nil {
			require.True(t, errors.Is(err, ErrCorrupt), "want ErrCorrupt, got: %v", err)
			failed++
		}
	}
	assert.NotZero(t, failed, "some bins lie beyond the end of the file")
}

// Anyone can make a bin log an event (a request without a valid signature
// does), so what a bin's log takes in the file must not grow with the
// requests' size. That each field is cut to its bound is in the
// conformance suite.
func TestHostileEventsAreBoundedInBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	db := openTestWith(t, path, testOptions)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "noisy")
	require.NoError(t, db.Flush())
	before, err := os.Stat(path)
	require.NoError(t, err)

	huge := strings.Repeat("x", 64<<10)
	for i := range 150 {
		db.AddEvent(b.SID, Event{
			Severity: "error" + huge, Code: fmt.Sprint(i) + huge,
			Message: "refused for https://bins.example.com/twiml/" + b.SID + "?q=" + huge, Slot: huge,
		})
	}
	require.NoError(t, db.Flush())
	events, err := db.Events(acct, b.SID, 0)
	require.NoError(t, err)
	require.Len(t, events, DefaultEventLimit)
	after, err := os.Stat(path)
	require.NoError(t, err)
	// 100 events of about 1.4 KiB, with bbolt's pages and free list: far
	// below the 6 MiB that 100 whole 64 KiB messages would take.
	assert.Less(t, after.Size()-before.Size(), int64(1<<20), "file grew from %d to %d bytes", before.Size(), after.Size())
}

// Another account's bin is turned away before its record is decoded: the
// lookup allocates no more for a bin with a 64 KiB template than for a
// SID that does not exist.
func TestHostileOtherAccountsBinIsNotDecoded(t *testing.T) {
	db := openTest(t)
	alice, _ := newAccount(t, db)
	bob, _ := newAccount(t, db)
	big, err := db.CreateBin(alice, BinInput{
		FriendlyName: "big", RenderPolicy: "lenient",
		Template: "<Response><Say>" + strings.Repeat("a", 64<<10-100) + "</Say></Response>",
	})
	require.NoError(t, err)

	allocated := func(sid string) uint64 {
		const n = 50
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			_, err := db.Bin(bob, sid)
			require.ErrorIs(t, err, ErrNotFound)
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	unknown, other := allocated(unknownBin), allocated(big.SID)
	assert.Less(t, other, unknown+4<<10, "bytes allocated per lookup: other account's 64 KiB bin %d, unknown SID %d", other, unknown)
}

// TestHostileBugIsNotCorruption: a panic in the store's own code inside a
// transaction is a bug, and goes on as a panic; told it was damage, an
// operator would restore a backup and lose what was saved since.
func TestHostileBugIsNotCorruption(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	assert.PanicsWithValue(t, "a bug", func() {
		_ = db.view(func(*bbolt.Tx) error { panic("a bug") })
	}, "in a read")
	assert.PanicsWithValue(t, "a bug", func() {
		_ = db.update(func(*bbolt.Tx) error { panic("a bug") })
	}, "in a write")
	assert.Panics(t, func() {
		_ = db.view(func(*bbolt.Tx) error {
			revs := []int{1}
			_ = revs[len(revs)] // out of range: a runtime error, not a fault
			return nil
		})
	})
	assert.Panics(t, func() {
		_ = db.view(func(*bbolt.Tx) error {
			var rec *binRecord
			_ = rec.SID // a nil pointer: a fault, but in the first page, never the file's
			return nil
		})
	})
	newBin(t, db, acct, "still writable")
}
