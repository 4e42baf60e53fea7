package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// This file is the form of a whole store that every backend reads and
// writes, one record at a time, so that data moves between backends
// (twimlbin migrate) without either knowing the other's layout.

// AccountDump is an account as a store holds it: every field of its
// record. Only the SHA-256 of the auth token exists anywhere, so that is
// what moves; the Twilio auth token moves as it is kept, in clear.
type AccountDump struct {
	SID             string
	FriendlyName    string
	AuthTokenSHA256 []byte
	TwilioAuthToken string
	SessionEpoch    uint64
	// Bins and TemplateBytes are what the store counts for the account's
	// quotas. ImportAccount ignores them: the importing store counts the
	// bins imported after the account. They are exported so that Verify
	// compares each store's own counts.
	Bins          int
	TemplateBytes int64
	DateCreated   time.Time
	DateUpdated   time.Time
}

// BinDump is a bin as a store holds it: its current record, every
// revision it keeps, its usage counters and its event log.
type BinDump struct {
	SID          string
	AccountSID   string
	FriendlyName string
	Template     string
	RenderPolicy string
	Revision     int
	DateCreated  time.Time
	DateUpdated  time.Time
	// Revisions are the kept revisions, oldest first; the newest is the
	// current content, numbered Revision. Size is ignored on import.
	Revisions        []Revision
	NumRequests      int64
	DateLastAccessed time.Time // zero when the bin was never requested
	// Events is the bin's event log, newest first.
	Events []Event
}

// Importer writes the records of a whole store as given: what Export
// reads from another store.
type Importer interface {
	// ImportSessionKey replaces the key that signs web session cookies,
	// so that sessions signed by the exporting store stay valid.
	ImportSessionKey(key []byte) error
	// ImportAccount writes the account, replacing one with the same SID
	// together with every bin it holds: the bins follow, each through
	// ImportBin. The store's count of accounts grows when the SID is new.
	ImportAccount(a AccountDump) error
	// ImportBin writes the bin of an account already imported, replacing
	// one with the same SID, with its revisions, usage counters and
	// events as given: not refused by quotas, nor trimmed to the store's
	// own limits. The account's quota counts and the store's count of
	// bins take the bin in, and the bin lists after those imported before
	// it. ErrNotFound when its account does not exist.
	ImportBin(b BinDump) error
}

// Copier is a store whose whole content can be read and written one
// record at a time: both backends implement it, for Copy and Verify.
type Copier interface {
	Importer
	// AccountSIDs returns the SID of every account, in ascending order.
	AccountSIDs() ([]string, error)
	// Export reads the whole store in one consistent read and passes it
	// to the methods of to: the session key first (when the store has
	// one), then every account in ascending order of SID, each followed by
	// its bins in the order ListBins gives them (the order they were
	// created or imported in). An error from to ends the export and is
	// returned unchanged. to must not be this store.
	Export(to Importer) error
}

var _ Copier = (*DB)(nil)

// ErrForeignData: the store a copy would write into holds accounts that
// the store it copies from does not: another installation's data, which a
// copy would mix in. Nothing was written.
var ErrForeignData = errors.New("store: the destination holds other data")

// ErrMismatch: two stores that Verify compared differ. The error is a
// *MismatchError, which says where.
var ErrMismatch = errors.New("store: stores differ")

// MismatchError is the first difference Verify found between two stores.
// It wraps ErrMismatch.
type MismatchError struct {
	// SID is the account or bin that differs, "" for the session key.
	SID string
	// Field is the field that differs, such as "Revisions[2].Template",
	// or "" when the record is in one store only or in another place.
	Field string
	// Detail says how it differs, without the content of any text field
	// (templates and tokens are not for logs).
	Detail string
}

func (e *MismatchError) Error() string {
	var b strings.Builder
	b.WriteString("store: verify: ")
	switch {
	case e.SID == "":
		b.WriteString("session key")
	case IsBinSID(e.SID):
		b.WriteString("bin " + e.SID)
	default:
		b.WriteString("account " + e.SID)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Detail)
	return b.String()
}

// Unwrap returns ErrMismatch.
func (e *MismatchError) Unwrap() error { return ErrMismatch }

// CopyCounts are the records Copy wrote.
type CopyCounts struct {
	SessionKey bool // whether the source had a session key to copy
	Accounts   int
	Bins       int
	Revisions  int
	Events     int
}

// Copy writes the whole content of src into dst, replacing the records
// with the same SIDs, and returns what it wrote. Run again over the same
// stores it leaves dst as one run does, holding src's content as of that
// run. It refuses, before writing anything, a dst holding any account src
// does not hold (an error wrapping ErrForeignData): copy into an empty
// store, or one an earlier copy from src filled. Copy does not compare the
// stores afterwards: Verify does.
func Copy(dst, src Copier) (CopyCounts, error) {
	// Only pointers are compared: == on other values may panic.
	if reflect.ValueOf(dst).Kind() == reflect.Pointer && dst == src {
		return CopyCounts{}, errors.New("store: copy: the source and the destination are the same store")
	}
	srcSIDs, err := src.AccountSIDs()
	if err != nil {
		return CopyCounts{}, fmt.Errorf("store: copy: read the source's accounts: %w", err)
	}
	dstSIDs, err := dst.AccountSIDs()
	if err != nil {
		return CopyCounts{}, fmt.Errorf("store: copy: read the destination's accounts: %w", err)
	}
	var foreign []string
	for _, sid := range dstSIDs {
		if _, found := slices.BinarySearch(srcSIDs, sid); !found {
			foreign = append(foreign, sid)
		}
	}
	if len(foreign) > 0 {
		what := "account " + foreign[0] + " is"
		if len(foreign) > 1 {
			what = fmt.Sprintf("%d accounts, such as %s, are", len(foreign), foreign[0])
		}
		return CopyCounts{}, fmt.Errorf("%w: %s not in the source: migrate into an empty store, or one this command filled from the same source",
			ErrForeignData, what)
	}
	c := &countingImporter{dst: dst}
	if err := src.Export(c); err != nil {
		return c.counts, fmt.Errorf("store: copy: %w", err)
	}
	return c.counts, nil
}

// countingImporter passes records on to dst, counting them.
type countingImporter struct {
	dst    Importer
	counts CopyCounts
}

func (c *countingImporter) ImportSessionKey(key []byte) error {
	if err := c.dst.ImportSessionKey(key); err != nil {
		return err
	}
	c.counts.SessionKey = true
	return nil
}

func (c *countingImporter) ImportAccount(a AccountDump) error {
	if err := c.dst.ImportAccount(a); err != nil {
		return err
	}
	c.counts.Accounts++
	return nil
}

func (c *countingImporter) ImportBin(b BinDump) error {
	if err := c.dst.ImportBin(b); err != nil {
		return err
	}
	c.counts.Bins++
	c.counts.Revisions += len(b.Revisions)
	c.counts.Events += len(b.Events)
	return nil
}

// Verify exports a and b side by side and compares them record by record
// and field by field: what Copy wrote must read back the same. It returns
// a *MismatchError for the first difference, or an error of either
// export. Both are read in full unless they differ early; neither is
// held in memory but a record at a time.
func Verify(a, b Copier) error {
	stop := make(chan struct{})
	aRecords, aDone := stream(a, stop)
	bRecords, bDone := stream(b, stop)
	mismatch := compareStreams(aRecords, bRecords)
	close(stop)
	// An export that failed ended its stream early, which looks like a
	// difference: its error says more.
	if err := <-aDone; err != nil && !errors.Is(err, errStopped) {
		return fmt.Errorf("store: verify: read the first store: %w", err)
	}
	if err := <-bDone; err != nil && !errors.Is(err, errStopped) {
		return fmt.Errorf("store: verify: read the second store: %w", err)
	}
	if mismatch != nil {
		return mismatch
	}
	return nil
}

// errStopped ends an export that Verify no longer reads.
var errStopped = errors.New("store: verify stopped reading")

// record is one record of an export: exactly one field is set.
type record struct {
	sessionKey []byte
	account    *AccountDump
	bin        *BinDump
}

// sid is the SID of the record, "" for the session key.
func (r record) sid() string {
	switch {
	case r.account != nil:
		return r.account.SID
	case r.bin != nil:
		return r.bin.SID
	}
	return ""
}

func (r record) String() string {
	switch {
	case r.account != nil:
		return "account " + r.account.SID
	case r.bin != nil:
		return "bin " + r.bin.SID + " of account " + r.bin.AccountSID
	}
	return "the session key"
}

// stream runs c.Export in a goroutine of its own, sending each record on
// the returned channel, which it closes at the end. The export's error
// arrives on done; closing stop ends it early with errStopped.
func stream(c Copier, stop <-chan struct{}) (<-chan record, <-chan error) {
	records, done := make(chan record), make(chan error, 1)
	go func() {
		defer close(done)
		err := c.Export(streamImporter{records, stop})
		close(records)
		done <- err
	}()
	return records, done
}

// streamImporter sends what it is given on a channel.
type streamImporter struct {
	out  chan<- record
	stop <-chan struct{}
}

func (s streamImporter) send(r record) error {
	select {
	case s.out <- r:
		return nil
	case <-s.stop:
		return errStopped
	}
}

func (s streamImporter) ImportSessionKey(key []byte) error {
	return s.send(record{sessionKey: bytes.Clone(key)})
}

func (s streamImporter) ImportAccount(a AccountDump) error { return s.send(record{account: &a}) }

func (s streamImporter) ImportBin(b BinDump) error { return s.send(record{bin: &b}) }

// compareStreams reads both streams to their end and returns the first
// difference, or nil.
func compareStreams(a, b <-chan record) *MismatchError {
	for {
		ra, okA := <-a
		rb, okB := <-b
		switch {
		case !okA && !okB:
			return nil
		case !okA:
			return &MismatchError{SID: rb.sid(), Detail: "only the second store holds " + rb.String()}
		case !okB:
			return &MismatchError{SID: ra.sid(), Detail: "only the first store holds " + ra.String()}
		}
		if m := compareRecords(ra, rb); m != nil {
			return m
		}
	}
}

// compareRecords returns how ra and rb differ, or nil.
func compareRecords(ra, rb record) *MismatchError {
	if ra.String() != rb.String() {
		return &MismatchError{SID: ra.sid(), Detail: fmt.Sprintf("the first store holds %s where the second holds %s", ra, rb)}
	}
	var field, detail string
	switch {
	case ra.account != nil:
		field, detail = difference(reflect.ValueOf(*ra.account), reflect.ValueOf(*rb.account), "")
	case ra.bin != nil:
		field, detail = difference(reflect.ValueOf(*ra.bin), reflect.ValueOf(*rb.bin), "")
	case !bytes.Equal(ra.sessionKey, rb.sessionKey):
		field, detail = "SessionKey", "differs"
	}
	if detail == "" {
		return nil
	}
	return &MismatchError{SID: ra.sid(), Field: field, Detail: detail}
}

var timeType = reflect.TypeFor[time.Time]()

// difference returns the first field in which a and b, values of one
// type, differ (named from path) and how, or "" and "" when they do not.
// Times are equal when they are the same instant; the content of text
// and bytes is never shown.
func difference(a, b reflect.Value, path string) (field, detail string) {
	switch {
	case a.Type() == timeType:
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		if !ta.Equal(tb) {
			return path, fmt.Sprintf("%s in the first store, %s in the second", ta.Format(time.RFC3339Nano), tb.Format(time.RFC3339Nano))
		}
	case a.Kind() == reflect.Struct:
		for i := range a.NumField() {
			name := a.Type().Field(i).Name
			if path != "" {
				name = path + "." + name
			}
			if field, detail := difference(a.Field(i), b.Field(i), name); detail != "" {
				return field, detail
			}
		}
	case a.Kind() == reflect.Slice && a.Type().Elem().Kind() == reflect.Uint8:
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			return path, "differs"
		}
	case a.Kind() == reflect.Slice:
		if a.Len() != b.Len() {
			return path, fmt.Sprintf("%d in the first store, %d in the second", a.Len(), b.Len())
		}
		for i := range a.Len() {
			if field, detail := difference(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); detail != "" {
				return field, detail
			}
		}
	case a.Kind() == reflect.String:
		if a.String() != b.String() {
			return path, fmt.Sprintf("differs (%d bytes in the first store, %d in the second)", a.Len(), b.Len())
		}
	case !a.Equal(b):
		return path, fmt.Sprintf("%v in the first store, %v in the second", a.Interface(), b.Interface())
	}
	return "", ""
}
