package store

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// testOptions never flush on their own during a test: tests flush when they
// mean to, so what is buffered and what is written is up to them.
var testOptions = Options{NoSync: true, FlushInterval: time.Hour}

// openTest opens a database in a temporary directory. When the test ends,
// it checks the file's consistency and closes it.
func openTest(t testing.TB) *DB {
	t.Helper()
	return openTestWith(t, filepath.Join(t.TempDir(), "twimlbin.db"), testOptions)
}

// openTestWith opens the database at path with opts, checked and closed
// when the test ends.
func openTestWith(t testing.TB, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, db.Check(), "consistency check")
		assert.NoError(t, db.Close())
	})
	return db
}

// newAccount creates an account and returns its SID and auth token.
func newAccount(t testing.TB, db *DB) (string, string) {
	t.Helper()
	acct, token, err := db.CreateAccount("test")
	require.NoError(t, err)
	return acct.SID, token
}

// newBin creates a bin of the account with a template naming i.
func newBin(t testing.TB, db *DB, accountSID string, name string) Bin {
	t.Helper()
	b, err := db.CreateBin(accountSID, BinInput{
		FriendlyName: name,
		Template:     "<Response><Say>" + name + "</Say></Response>",
		RenderPolicy: "lenient",
	})
	require.NoError(t, err)
	return b
}

func TestOpenCreatesDirectoryAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "twimlbin.db")
	openTestWith(t, path, testOptions)

	di, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "directory mode")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "file mode")
}

func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	openTestWith(t, path, testOptions)

	// flock is per open file, so a second Open in this process waits just
	// as another process would.
	db, err := Open(path, testOptions)
	if db != nil {
		db.Close()
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "in use by another process")
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	db, err := Open(path, testOptions)
	require.NoError(t, err)
	require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, u64(uint64(len(migrations)+1)))
	}))
	require.NoError(t, db.Close())

	_, err = Open(path, testOptions)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer than this program's")
}

func TestMigrations(t *testing.T) {
	t.Run("the current schema version is stored", func(t *testing.T) {
		db := openTest(t)
		var got uint64
		require.NoError(t, db.bolt.View(func(tx *bbolt.Tx) error {
			got = getU64(tx.Bucket(bucketMeta), keySchemaVersion)
			return nil
		}))
		assert.Equal(t, uint64(len(migrations)), got)
	})

	t.Run("each migration runs once", func(t *testing.T) {
		bdb, err := bbolt.Open(filepath.Join(t.TempDir(), "raw.db"), 0o600, &bbolt.Options{NoSync: true})
		require.NoError(t, err)
		defer bdb.Close()

		runs := make([]int, 3)
		step := func(i int) func(*bbolt.Tx) error {
			return func(*bbolt.Tx) error { runs[i]++; return nil }
		}
		run := func(ms []func(*bbolt.Tx) error) uint64 {
			t.Helper()
			var version uint64
			require.NoError(t, bdb.Update(func(tx *bbolt.Tx) error {
				if err := setup(tx, ms); err != nil {
					return err
				}
				version = getU64(tx.Bucket(bucketMeta), keySchemaVersion)
				return nil
			}))
			return version
		}

		assert.Equal(t, uint64(2), run([]func(*bbolt.Tx) error{step(0), step(1)}))
		assert.Equal(t, []int{1, 1, 0}, runs)
		assert.Equal(t, uint64(2), run([]func(*bbolt.Tx) error{step(0), step(1)}), "reopened")
		assert.Equal(t, []int{1, 1, 0}, runs, "nothing ran again")
		assert.Equal(t, uint64(3), run([]func(*bbolt.Tx) error{step(0), step(1), step(2)}), "a new migration")
		assert.Equal(t, []int{1, 1, 1}, runs, "only the new one ran")
	})

	t.Run("2 and 3: usage records from JSON to binary, then to blocks", func(t *testing.T) {
		// A schema 1 file with a bin that was requested and one that never
		// was: a record per bin in bucket usage, bare SIDs in account_bins,
		// no blocks.
		path := filepath.Join(t.TempDir(), "twimlbin.db")
		db, err := Open(path, testOptions)
		require.NoError(t, err)
		acct, _ := newAccount(t, db)
		requested, idle := newBin(t, db, acct, "requested"), newBin(t, db, acct, "idle")
		last := time.Date(2026, 3, 1, 12, 30, 15, 123456789, time.UTC)
		require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
			usage, err := tx.CreateBucketIfNotExists(bucketUsageRecords)
			if err != nil {
				return err
			}
			if err := usage.Put([]byte(requested.SID), []byte(`{"num_requests":42,"date_last_accessed":"2026-03-01T12:30:15.123456789Z"}`)); err != nil {
				return err
			}
			if err := usage.Put([]byte(idle.SID), []byte(`{"num_requests":0}`)); err != nil {
				return err
			}
			if err := tx.DeleteBucket(bucketUsageBlocks); err != nil {
				return err
			}
			list := tx.Bucket(bucketAccountBins)
			for _, b := range []Bin{requested, idle} {
				if err := list.Put(seqKey(acct, seqOfBin(t, tx, b.SID)), []byte(b.SID)); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keySchemaVersion, u64(1))
		}))
		require.NoError(t, db.Close())

		db, err = Open(path, testOptions)
		require.NoError(t, err)
		got, err := db.Bin(acct, requested.SID)
		require.NoError(t, err)
		assert.Equal(t, int64(42), got.NumRequests)
		assert.True(t, last.Equal(got.DateLastAccessed), "date_last_accessed %v, want %v", got.DateLastAccessed, last)
		got, err = db.Bin(acct, idle.SID)
		require.NoError(t, err)
		assert.Zero(t, got.NumRequests)
		assert.True(t, got.DateLastAccessed.IsZero())

		require.NoError(t, db.bolt.View(func(tx *bbolt.Tx) error {
			assert.Nil(t, tx.Bucket(bucketUsageRecords), "the old records are gone")
			slots := map[uint32]bool{}
			require.NoError(t, tx.Bucket(bucketAccountBins).ForEach(func(k, v []byte) error {
				_, slot, err := parseAccountBin(k, v)
				slots[slot] = true
				return err
			}), "a slot in every bin's account_bins value")
			assert.Len(t, slots, 2, "a slot per bin")
			return nil
		}))

		db.RecordRequest(requested.SID, last.Add(time.Hour))
		require.NoError(t, db.Flush())
		assert.Equal(t, usageRecord{NumRequests: 43, DateLastAccessed: last.Add(time.Hour)}, storedUsage(t, db, requested.SID))
		assert.Equal(t, usageRecord{}, storedUsage(t, db, idle.SID))

		// A bin created after the migration gets a slot of its own.
		fresh := newBin(t, db, acct, "fresh")
		db.RecordRequest(fresh.SID, last)
		require.NoError(t, db.Close())
		db = openTestWith(t, path, testOptions)
		for sid, want := range map[string]int64{requested.SID: 43, idle.SID: 0, fresh.SID: 1} {
			got, err := db.Bin(acct, sid)
			require.NoError(t, err)
			assert.Equal(t, want, got.NumRequests, "after reopening")
		}
	})

	t.Run("a failing migration leaves the version", func(t *testing.T) {
		bdb, err := bbolt.Open(filepath.Join(t.TempDir(), "raw.db"), 0o600, &bbolt.Options{NoSync: true})
		require.NoError(t, err)
		defer bdb.Close()
		boom := errors.New("boom")
		err = bdb.Update(func(tx *bbolt.Tx) error {
			return setup(tx, []func(*bbolt.Tx) error{func(*bbolt.Tx) error { return boom }})
		})
		assert.ErrorIs(t, err, boom)
		require.NoError(t, bdb.View(func(tx *bbolt.Tx) error {
			assert.Nil(t, tx.Bucket(bucketMeta), "the whole setup rolled back")
			return nil
		}))
	})
}

// seqOfBin is the creation seq of bin sid, which keys it in account_bins.
func seqOfBin(t *testing.T, tx *bbolt.Tx, sid string) uint64 {
	t.Helper()
	rec, err := findBin(tx, "", sid)
	require.NoError(t, err)
	return rec.Seq
}

func TestCheckFindsCorruption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twimlbin.db")
	db, err := Open(path, testOptions)
	require.NoError(t, err)
	acct, _ := newAccount(t, db)
	for i := range 50 {
		_, err := db.CreateBin(acct, BinInput{FriendlyName: "padded", Template: strings.Repeat("x", i*40), RenderPolicy: "lenient"})
		require.NoError(t, err)
	}
	require.NoError(t, db.Check())
	var root, pageSize int
	require.NoError(t, db.bolt.View(func(tx *bbolt.Tx) error {
		root = int(tx.Bucket(bucketBins).Root())
		pageSize = tx.DB().Info().PageSize
		return nil
	}))
	require.NotZero(t, root, "the bins bucket has a page of its own")
	require.NoError(t, db.Close())

	// Scribble over the bins bucket's root page.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	for i := root * pageSize; i < (root+1)*pageSize; i++ {
		raw[i] = 0xAB
	}
	require.NoError(t, os.WriteFile(path, raw, 0o600))

	db, err = Open(path, testOptions)
	require.NoError(t, err, "the meta pages and the freelist are intact")
	defer db.Close()
	assert.Error(t, db.Check())
}

// TestStatsUsageBlocks: a count since the last flush shows as the block
// of usage counters it changed, and the file's data as its size. The
// rest of Stats is in the conformance suite (store/storetest).
func TestStatsUsageBlocks(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	newBin(t, db, acct, "1")
	bin := newBin(t, db, acct, "2")
	db.RecordRequest(bin.SID, time.Time{})

	s := db.Stats()
	assert.Equal(t, 1, s.PendingUsageBlocks)
	assert.Positive(t, s.FileSize)
}

// TestNoBboltInAPI keeps bbolt types out of the exported API, so another
// backend can sit beside this one.
func TestNoBboltInAPI(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var checked int
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		check := func(what string, node any) {
			var sb strings.Builder
			require.NoError(t, printer.Fprint(&sb, fset, node))
			assert.NotContains(t, sb.String(), "bbolt", "%s: %s", what, sb.String())
			checked++
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && (d.Recv == nil || exportedRecv(d.Recv)) {
					check(d.Name.Name, d.Type)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							check(s.Name.Name, exportedFields(s.Type))
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && s.Type != nil {
								check(n.Name, s.Type)
							}
						}
					}
				}
			}
		}
	}
	assert.Greater(t, checked, 30, "the exported API was found")
}

func exportedRecv(recv *ast.FieldList) bool {
	typ := recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}

// exportedFields is a struct type without its unexported fields.
func exportedFields(typ ast.Expr) ast.Expr {
	st, ok := typ.(*ast.StructType)
	if !ok {
		return typ
	}
	out := &ast.StructType{Fields: &ast.FieldList{}}
	for _, f := range st.Fields.List {
		for _, n := range f.Names {
			if n.IsExported() {
				out.Fields.List = append(out.Fields.List, &ast.Field{Names: []*ast.Ident{n}, Type: f.Type})
			}
		}
	}
	return out
}

func TestOpenReadOnly(t *testing.T) {
	t.Run("a missing file is not created", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.db")
		_, err := Open(path, Options{ReadOnly: true})
		require.Error(t, err)
		assert.ErrorIs(t, err, os.ErrNotExist)
		assert.Contains(t, err.Error(), path)
		assert.NoFileExists(t, path)
	})

	t.Run("a file that needs migrating is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "twimlbin.db")
		db, err := Open(path, testOptions)
		require.NoError(t, err)
		require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySchemaVersion, u64(1))
		}))
		require.NoError(t, db.Close())
		_, err = Open(path, Options{ReadOnly: true})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "needs migrating")
		assert.Contains(t, err.Error(), "write access")
	})

	t.Run("a file that is not a twimlbin database is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.db")
		bdb, err := bbolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, bdb.Close())
		_, err = Open(path, Options{ReadOnly: true})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not a twimlbin database")
	})

	t.Run("many readers at once, and no writer", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "twimlbin.db")
		db, err := Open(path, testOptions)
		require.NoError(t, err)
		require.NoError(t, db.Close())
		first, err := Open(path, Options{ReadOnly: true})
		require.NoError(t, err)
		defer first.Close()
		second, err := Open(path, Options{ReadOnly: true})
		require.NoError(t, err)
		require.NoError(t, second.Close())
		_, err = Open(path, testOptions)
		assert.ErrorIs(t, err, ErrLocked)
	})
}
