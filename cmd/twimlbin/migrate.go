package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/twimlbin/twimlbin/store"
)

const migrateUsage = `usage: twimlbin migrate --from STORE --to STORE [--etcd-prefix P] [--etcd-cert FILE --etcd-key FILE] [--etcd-ca FILE]

Copies everything a twimlbin store holds into another, and checks the
copy: accounts (their auth tokens, which stay valid, Twilio auth tokens,
sessions and dates), the key that signs web sessions, bins with every
revision they keep, their usage counters and events. A STORE is

	bolt:PATH    a database file; as --from it is only read
	etcd:URLS    an etcd cluster, its client URLs separated by commas,
	             such as etcd:http://10.0.0.1:2379,http://10.0.0.2:2379;
	             the --etcd flags apply to it

Stop the servers of the source first: what they write during the copy
is not in it (a database file in use by a server cannot be opened).

The copy goes into an empty store, or into one an earlier run filled
from the same source: a destination holding accounts the source does
not is refused before anything is written. Running the command again is
safe, and brings the copy up to date with the source: each account is
written again with its bins, and a bin the source no longer holds goes.
At the end both stores are read again and compared, record by record;
"verified" means they read the same.

It exits 0 once the copy is verified, 1 when the copy is refused, fails
or differs from the source, 2 for bad flags or a store that cannot be
opened, and 3 when a database file is corrupt.

The --etcd flags can also be set in the environment: TWIMLBIN_ETCD_PREFIX,
TWIMLBIN_ETCD_CERT, TWIMLBIN_ETCD_KEY, TWIMLBIN_ETCD_CA. A flag wins over
its variable.
`

// runMigrate copies a whole store into another and verifies the copy.
func runMigrate(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("migrate", migrateUsage, stderr)
	from := fs.String("from", "", "the store to copy: bolt:PATH or etcd:URLS")
	to := fs.String("to", "", "the store to copy into: bolt:PATH or etcd:URLS")
	var etcd etcdFlags
	etcd.defineConnection(fs, os.Getenv)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "twimlbin migrate: %v\n", err)
		return code
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	src, err := parseLocation("--from", *from)
	if err != nil {
		return fail(exitUsage, err)
	}
	dst, err := parseLocation("--to", *to)
	if err != nil {
		return fail(exitUsage, err)
	}
	if err := checkLocations(src, dst, etcd, fs); err != nil {
		return fail(exitUsage, err)
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	openFailed := func(err error) int {
		if errors.Is(err, store.ErrCorrupt) {
			return fail(exitCorrupt, err)
		}
		return fail(exitUsage, err)
	}
	srcStore, err := src.open(true, etcd, logger)
	if err != nil {
		return openFailed(err)
	}
	defer srcStore.Close()
	dstStore, err := dst.open(false, etcd, logger)
	if err != nil {
		return openFailed(err)
	}

	counts, err := store.Copy(interruptible{dstStore, ctx}, interruptible{srcStore, ctx})
	if err == nil {
		fmt.Fprintf(stdout, "copied %s from %s to %s\n", describeCounts(counts), src, dst)
		err = store.Verify(interruptible{srcStore, ctx}, interruptible{dstStore, ctx})
	}
	if cerr := dstStore.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", dst, cerr)
	}
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "verified: %s reads the same as %s\n", dst, src)
		return exitOK
	case ctx.Err() != nil:
		return fail(exitInvalid, fmt.Errorf("interrupted: %s may hold part of the copy; run the same command again to finish it", dst))
	case errors.Is(err, store.ErrForeignData):
		return fail(exitInvalid, fmt.Errorf("%s: %w", dst, err))
	case errors.Is(err, store.ErrMismatch):
		return fail(exitInvalid, fmt.Errorf("the copy does not read the same as the source (the first store is --from, the second --to): %w; run the command again once nothing writes to the source", err))
	}
	return fail(exitInvalid, err)
}

// location is a store named by --from or --to: a database file (path) or
// an etcd cluster (endpoints, comma-separated).
type location struct {
	path      string
	endpoints string
}

func (l location) String() string {
	if l.path != "" {
		return "bolt:" + l.path
	}
	return "etcd:" + l.endpoints
}

// parseLocation reads the value of flag, bolt:PATH or etcd:URLS.
func parseLocation(flag, value string) (location, error) {
	scheme, rest, _ := strings.Cut(value, ":")
	switch {
	case value == "":
		return location{}, fmt.Errorf("%s is missing: give bolt:PATH for a database file or etcd:URLS for an etcd cluster", flag)
	case scheme == "bolt" && rest != "":
		return location{path: rest}, nil
	case scheme == "bolt":
		return location{}, fmt.Errorf("%s %s names no file: give bolt:PATH, such as bolt:data/twimlbin.db", flag, value)
	case scheme == "etcd" && strings.Trim(rest, ", ") != "":
		return location{endpoints: rest}, nil
	case scheme == "etcd":
		return location{}, fmt.Errorf("%s %s names no endpoint: give etcd:URLS, such as etcd:http://10.0.0.1:2379,http://10.0.0.2:2379", flag, value)
	}
	return location{}, fmt.Errorf("%s %q: give bolt:PATH for a database file or etcd:URLS for an etcd cluster", flag, value)
}

// checkLocations refuses what cannot work, before anything is opened: a
// store copied into itself, endpoints that are not URLs, --etcd flags
// that do not go together or apply to no store.
func checkLocations(src, dst location, etcd etcdFlags, fs *flag.FlagSet) error {
	if src.path != "" && dst.path != "" && sameFile(src.path, dst.path) {
		return fmt.Errorf("--from and --to are the same file, %s: copy into another", src.path)
	}
	if src.endpoints != "" && src.endpoints == dst.endpoints {
		return fmt.Errorf("--from and --to are the same etcd cluster and prefix: copy into another")
	}
	for _, l := range []location{src, dst} {
		if l.endpoints == "" {
			continue
		}
		etcd.Endpoints = l.endpoints
		if err := etcd.check(); err != nil {
			return err
		}
	}
	if src.endpoints == "" && dst.endpoints == "" {
		var set []string
		fs.Visit(func(f *flag.Flag) {
			if strings.HasPrefix(f.Name, "etcd-") {
				set = append(set, "--"+f.Name)
			}
		})
		if len(set) > 0 {
			return fmt.Errorf("%s apply to an etcd: store, and neither --from nor --to is one", strings.Join(set, ", "))
		}
	}
	return nil
}

// sameFile reports whether paths a and b name one file: the same path,
// or the same existing file under two names.
func sameFile(a, b string) bool {
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	if errA == nil && errB == nil && absA == absB {
		return true
	}
	infoA, errA := os.Stat(a)
	infoB, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(infoA, infoB)
}

// copyStore is what migrate needs of each store.
type copyStore interface {
	store.Copier
	Close() error
}

// open opens the store, for reading only when it is the source and a
// database file.
func (l location) open(source bool, etcd etcdFlags, logger *slog.Logger) (copyStore, error) {
	if l.path != "" {
		if source {
			if _, err := os.Stat(l.path); err != nil {
				return nil, fmt.Errorf("--from %s: %w", l, err)
			}
		}
		db, err := store.Open(l.path, store.Options{ReadOnly: source})
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	etcd.Endpoints = l.endpoints
	s, err := etcd.open(store.Options{}, logger)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l, err)
	}
	c, ok := s.(copyStore)
	if !ok {
		_ = s.Close()
		return nil, fmt.Errorf("%s: the etcd backend of this build cannot copy data", l)
	}
	return c, nil
}

// interruptible is a store whose export stops, between two records, once
// ctx is done (SIGINT or SIGTERM): Copy and Verify read each store
// through its export.
type interruptible struct {
	copyStore
	ctx context.Context
}

func (s interruptible) Export(to store.Importer) error {
	return s.copyStore.Export(interruptibleImporter{to, s.ctx})
}

// interruptibleImporter passes records on to an Importer until ctx is
// done.
type interruptibleImporter struct {
	to  store.Importer
	ctx context.Context
}

func (i interruptibleImporter) ImportSessionKey(key []byte) error {
	if err := i.ctx.Err(); err != nil {
		return err
	}
	return i.to.ImportSessionKey(key)
}

func (i interruptibleImporter) ImportAccount(a store.AccountDump) error {
	if err := i.ctx.Err(); err != nil {
		return err
	}
	return i.to.ImportAccount(a)
}

func (i interruptibleImporter) ImportBin(b store.BinDump) error {
	if err := i.ctx.Err(); err != nil {
		return err
	}
	return i.to.ImportBin(b)
}

// describeCounts says what a copy wrote, for a person.
func describeCounts(c store.CopyCounts) string {
	parts := []string{
		plural(c.Accounts, "account"), plural(c.Bins, "bin"),
		plural(c.Revisions, "revision"), plural(c.Events, "event"),
	}
	if c.SessionKey {
		parts = append([]string{"the session key"}, parts...)
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
