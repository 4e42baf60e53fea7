package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// This file is the on-disk format: every bucket, every key layout, every
// value record, the schema version and the migrations that reach it.
//
// Keys are raw bytes; values are JSON records, except usage counters, which
// the flush rewrites by the thousand every second and so are fixed bytes:
// each bin has a slot (see usageTable), and a block of blockSlots slots is
// stored as one value, each slot 16 bytes (see usageRecord). SIDs have a
// fixed length (two letters and 32 hex digits), so a SID followed by an
// 8-byte big-endian number is a key whose prefix is the SID and whose
// suffix sorts numerically.
//
//	meta          "schema_version"   → uint64, the number of migrations applied
//	              "flush_generation" → uint64, the last batch of events written (see usage.go)
//	              "accounts"         → uint64, how many accounts exist
//	              "bins"             → uint64, how many bins exist
//	              "session_key"      → 32 random bytes that sign the web form's session cookies
//	accounts      account SID                    → accountRecord (with its bins and bytes, for quotas)
//	bins          bin SID                        → binRecord (with the bytes of its kept revisions)
//	account_bins  account SID + creation seq     → bin SID + uint32 usage slot (listing in creation order)
//	revisions     bin SID + revision             → revisionRecord
//	usage_blocks  uint32 block number            → blockSlots usageRecords, binary
//	events        bin SID + event seq            → eventRecord
//
// The creation seq is the bins bucket's NextSequence and the event seq the
// events bucket's, both global and increasing, so each key range sorts in
// the order its records were written.

// Bucket names.
var (
	bucketMeta        = []byte("meta")
	bucketAccounts    = []byte("accounts")
	bucketBins        = []byte("bins")
	bucketAccountBins = []byte("account_bins")
	bucketRevisions   = []byte("revisions")
	bucketUsageBlocks = []byte("usage_blocks")
	bucketEvents      = []byte("events")

	// bucketUsageRecords held a usage record per bin, until schema 3.
	bucketUsageRecords = []byte("usage")
)

// allBuckets lists every bucket; Open creates the missing ones.
var allBuckets = [][]byte{
	bucketMeta, bucketAccounts, bucketBins, bucketAccountBins,
	bucketRevisions, bucketUsageBlocks, bucketEvents,
}

// Keys of the meta bucket.
var (
	keySchemaVersion   = []byte("schema_version")
	keyFlushGeneration = []byte("flush_generation")
	keyAccountCount    = []byte("accounts")
	keyBinCount        = []byte("bins")
	keySessionKey      = []byte("session_key")
	keyOpenForWriting  = []byte("open_for_writing")
)

// sessionKeySize is the length of the key stored at keySessionKey.
const sessionKeySize = 32

// migrations brings a database from any earlier schema version to the
// current one: migrations[i] turns version i into version i+1, and the
// schema version is len(migrations). Append only; never edit or reorder a
// migration that has shipped. Each runs inside Open's write transaction,
// after every bucket of allBuckets exists.
var migrations = []func(*bbolt.Tx) error{
	// 1: the initial layout. Start the record counters from what is there.
	func(tx *bbolt.Tx) error {
		accounts := tx.Bucket(bucketAccounts).Stats().KeyN
		bins := tx.Bucket(bucketBins).Stats().KeyN
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyAccountCount, u64(uint64(accounts))); err != nil {
			return err
		}
		return meta.Put(keyBinCount, u64(uint64(bins)))
	},
	// 2: usage records from JSON to their binary form, which the flush
	// writes in a fraction of the time.
	func(tx *bbolt.Tx) error {
		usage := tx.Bucket(bucketUsageRecords)
		if usage == nil {
			return nil // created at schema 3 or later: nothing to convert
		}
		converted := map[string][]byte{}
		err := usage.ForEach(func(k, v []byte) error {
			var u struct {
				NumRequests      int64     `json:"num_requests"`
				DateLastAccessed time.Time `json:"date_last_accessed"`
			}
			if err := decode(k, v, &u); err != nil {
				return err
			}
			converted[string(k)] = usageRecord(u).marshal()
			return nil
		})
		if err != nil {
			return err
		}
		for k, v := range converted {
			if err := usage.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	},
	// 3: usage counters in blocks of slots, a slot per bin, instead of a
	// record per bin: the flush writes a few hundred blocks, not tens of
	// thousands of records. Bins get slots in the order of account_bins,
	// whose values gain them.
	func(tx *bbolt.Tx) error {
		records := tx.Bucket(bucketUsageRecords)
		list, blocks := tx.Bucket(bucketAccountBins), tx.Bucket(bucketUsageBlocks)
		slots := map[string][]byte{} // account_bins key → new value
		filled := map[uint32][]byte{}
		var slot uint32
		err := list.ForEach(func(k, sid []byte) error {
			slots[string(k)] = accountBinValue(string(sid), slot)
			var v []byte
			if records != nil {
				v = records.Get(sid)
			}
			if v != nil {
				if _, err := unmarshalUsage(sid, v); err != nil {
					return err
				}
				block := filled[slot/blockSlots]
				if block == nil {
					block = make([]byte, blockSlots*usageRecordSize)
					filled[slot/blockSlots] = block
				}
				copy(block[(slot%blockSlots)*usageRecordSize:], v)
			}
			slot++
			return nil
		})
		if err != nil {
			return err
		}
		for k, v := range slots {
			if err := list.Put([]byte(k), v); err != nil {
				return err
			}
		}
		for i, block := range filled {
			if err := blocks.Put(blockKey(i), block); err != nil {
				return err
			}
		}
		if records == nil {
			return nil
		}
		return tx.DeleteBucket(bucketUsageRecords)
	},
	// 4: quotas. Each bin's record gains the bytes of its revisions'
	// templates, and each account's the number of its bins and the sum of
	// their bytes. Every revision is counted: those past RevisionsKept go
	// at the bin's next save.
	func(tx *bbolt.Tx) error {
		bins, revisions, accounts := tx.Bucket(bucketBins), tx.Bucket(bucketRevisions), tx.Bucket(bucketAccounts)
		binRecs := map[string]binRecord{}
		type total struct{ bins, bytes int64 }
		totals := map[string]total{}
		err := bins.ForEach(func(k, v []byte) error {
			var rec binRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			rec.Bytes = 0
			c := revisions.Cursor()
			for rk, rv := c.Seek(k); rk != nil && bytes.HasPrefix(rk, k); rk, rv = c.Next() {
				var r revisionRecord
				if err := decode(rk, rv, &r); err != nil {
					return err
				}
				rec.Bytes += int64(len(r.Template))
			}
			binRecs[string(k)] = rec
			t := totals[rec.AccountSID]
			totals[rec.AccountSID] = total{t.bins + 1, t.bytes + rec.Bytes}
			return nil
		})
		if err != nil {
			return err
		}
		for k, rec := range binRecs {
			if err := put(bins, []byte(k), rec); err != nil {
				return err
			}
		}
		accountRecs := map[string]accountRecord{}
		err = accounts.ForEach(func(k, v []byte) error {
			var rec accountRecord
			if err := decode(k, v, &rec); err != nil {
				return err
			}
			t := totals[string(k)]
			rec.Bins, rec.Bytes = t.bins, t.bytes
			accountRecs[string(k)] = rec
			return nil
		})
		if err != nil {
			return err
		}
		for k, rec := range accountRecs {
			if err := put(accounts, []byte(k), rec); err != nil {
				return err
			}
		}
		return nil
	},
}

// setup creates the missing buckets and runs the migrations the database
// has not had yet, recording the new schema version.
func setup(tx *bbolt.Tx, migrations []func(*bbolt.Tx) error) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	version := getU64(meta, keySchemaVersion)
	if version > uint64(len(migrations)) {
		return fmt.Errorf("database schema version %d is newer than this program's %d: use a newer twimlbin", version, len(migrations))
	}
	for i := version; i < uint64(len(migrations)); i++ {
		if err := migrations[i](tx); err != nil {
			return fmt.Errorf("migration to schema version %d: %w", i+1, err)
		}
	}
	return meta.Put(keySchemaVersion, u64(uint64(len(migrations))))
}

// checkSchema is setup for a file opened read-only, which cannot be
// migrated: it fails unless the file is at the current schema version.
func checkSchema(tx *bbolt.Tx, migrations []func(*bbolt.Tx) error) error {
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("no bucket %s: this is not a twimlbin database, or one never opened for writing", name)
		}
	}
	switch version := getU64(tx.Bucket(bucketMeta), keySchemaVersion); {
	case version > uint64(len(migrations)):
		return fmt.Errorf("database schema version %d is newer than this program's %d: use a newer twimlbin", version, len(migrations))
	case version < uint64(len(migrations)):
		return fmt.Errorf("database schema version %d needs migrating to %d, which needs write access: open it once with write access", version, len(migrations))
	}
	return nil
}

// accountRecord is an account as stored. Only the SHA-256 of the auth token
// is kept: tokens are 128 random bits, so an unsalted fast hash is enough.
// The Twilio auth token is kept as given because request signatures are
// HMACs keyed with it. Bins and Bytes are what the account's quotas bound:
// its bins, and the Bytes of all of them, kept up to date by every
// transaction that changes them.
type accountRecord struct {
	SID             string `json:"sid"`
	FriendlyName    string `json:"friendly_name"`
	AuthTokenSHA256 []byte `json:"auth_token_sha256"`
	TwilioAuthToken string `json:"twilio_auth_token,omitempty"`
	// SessionEpoch counts the times every session of the account was
	// ended; a record written before it existed reads as 0.
	SessionEpoch uint64    `json:"session_epoch,omitempty"`
	Bins         int64     `json:"bins"`
	Bytes        int64     `json:"bytes"`
	DateCreated  time.Time `json:"date_created"`
	DateUpdated  time.Time `json:"date_updated"`
}

// binRecord is a bin as stored: its current content, which is also saved
// as the revision numbered Revision.
type binRecord struct {
	binHeader
	Template string `json:"template"`
}

// binHeader is a bin record but its template, which a list that does not
// show templates decodes alone: Seq is the creation sequence that keys it
// in account_bins, and Bytes the length of the templates of its kept
// revisions, summed.
type binHeader struct {
	SID          string    `json:"sid"`
	AccountSID   string    `json:"account_sid"`
	Seq          uint64    `json:"seq"`
	FriendlyName string    `json:"friendly_name"`
	RenderPolicy string    `json:"render_policy"`
	Revision     int       `json:"revision"`
	Bytes        int64     `json:"bytes"`
	DateCreated  time.Time `json:"date_created"`
	DateUpdated  time.Time `json:"date_updated"`
}

// binOwnerPrefix is how every encoded binRecord begins: put writes the SID
// and the account SID first, in the order binRecord declares them, and
// SIDs need no escaping. TestBinOwnerPrefix keeps it so.
const (
	binOwnerPrefix   = `{"sid":"`
	binOwnerInfix    = `","account_sid":"`
	binOwnerFieldEnd = len(binOwnerPrefix) + sidLen + len(binOwnerInfix) + sidLen
)

// binOwner returns the account SID of an encoded binRecord without
// decoding the rest of it (a template of up to 64 KiB), so that a bin of
// another account is turned away for the cost of an unknown SID. ok is
// false when data does not begin as put writes it.
func binOwner(data []byte) (accountSID []byte, ok bool) {
	if len(data) < binOwnerFieldEnd+1 || string(data[:len(binOwnerPrefix)]) != binOwnerPrefix ||
		string(data[len(binOwnerPrefix)+sidLen:binOwnerFieldEnd-sidLen]) != binOwnerInfix || data[binOwnerFieldEnd] != '"' {
		return nil, false
	}
	return data[binOwnerFieldEnd-sidLen : binOwnerFieldEnd], true
}

// revisionRecord is one saved revision of a bin.
type revisionRecord struct {
	Revision     int       `json:"revision"`
	FriendlyName string    `json:"friendly_name"`
	Template     string    `json:"template"`
	RenderPolicy string    `json:"render_policy"`
	DateCreated  time.Time `json:"date_created"`
}

// usageRecord holds a bin's flushed usage counters. It is stored as
// usageRecordSize bytes: the number of requests and the time of the last
// one in nanoseconds since 1970 (0 for none), both 8 bytes big-endian.
type usageRecord struct {
	NumRequests      int64
	DateLastAccessed time.Time // zero when the bin was never requested
}

const usageRecordSize = 16

func (u usageRecord) marshal() []byte {
	var last int64
	if !u.DateLastAccessed.IsZero() {
		last = u.DateLastAccessed.UnixNano()
	}
	return appendUsage(make([]byte, 0, usageRecordSize), u.NumRequests, last)
}

// unmarshalUsage decodes the usage record data found at key.
func unmarshalUsage(key, data []byte) (usageRecord, error) {
	if len(data) != usageRecordSize {
		return usageRecord{}, fmt.Errorf("decode usage record %q: %d bytes, want %d", key, len(data), usageRecordSize)
	}
	requests, last := usageAt(data, 0)
	return usageRecord{NumRequests: requests, DateLastAccessed: fromUnixNano(last)}, nil
}

// appendUsage appends counters in the layout of usageRecord: requests,
// then the last one's time in Unix nanoseconds (0 for none).
func appendUsage(dst []byte, requests, lastNanos int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(requests))
	return binary.BigEndian.AppendUint64(dst, uint64(lastNanos))
}

// usageAt reads the counters of slot j of a stored block (or of a usage
// record, j 0).
func usageAt(block []byte, j uint32) (requests, lastNanos int64) {
	rec := block[j*usageRecordSize:][:usageRecordSize]
	return int64(binary.BigEndian.Uint64(rec)), int64(binary.BigEndian.Uint64(rec[8:]))
}

// blockKey is the key of usage block i.
func blockKey(i uint32) []byte {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), i)
}

// accountBinValue is the value of a bin's key in account_bins: its SID and
// its usage slot, 4 bytes big-endian.
func accountBinValue(sid string, slot uint32) []byte {
	return binary.BigEndian.AppendUint32(append(make([]byte, 0, len(sid)+4), sid...), slot)
}

// parseAccountBin splits the value v of key k of account_bins.
func parseAccountBin(k, v []byte) (sid []byte, slot uint32, err error) {
	if len(v) != sidLen+4 {
		return nil, 0, fmt.Errorf("decode account bin %q: %d bytes, want %d", k, len(v), sidLen+4)
	}
	return v[:sidLen], binary.BigEndian.Uint32(v[sidLen:]), nil
}

// eventRecord is one entry of a bin's event log.
type eventRecord struct {
	Time     time.Time `json:"time"`
	Severity string    `json:"severity,omitempty"`
	Code     string    `json:"code,omitempty"`
	Message  string    `json:"message,omitempty"`
	Slot     string    `json:"slot,omitempty"`
	Line     int       `json:"line,omitempty"`
	Column   int       `json:"column,omitempty"`
}

// u64 encodes n as an 8-byte big-endian key or value.
func u64(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}

// getU64 reads an 8-byte big-endian value, 0 when the key is absent.
func getU64(b *bbolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// addU64 adds delta (possibly negative) to a counter of the meta bucket.
func addU64(tx *bbolt.Tx, key []byte, delta int64) error {
	meta := tx.Bucket(bucketMeta)
	return meta.Put(key, u64(uint64(int64(getU64(meta, key))+delta)))
}

// seqKey is prefix followed by n as 8 bytes big-endian.
func seqKey(prefix string, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, len(prefix)+8), prefix...), n)
}

// seqOf is the number at the end of a key made by seqKey.
func seqOf(key []byte) uint64 {
	return binary.BigEndian.Uint64(key[len(key)-8:])
}

// lastWithPrefix positions c on the last key starting with prefix and
// returns it, or nil when there is none. Keys under prefix are seqKeys.
func lastWithPrefix(c *bbolt.Cursor, prefix []byte) ([]byte, []byte) {
	// Past every seqKey of prefix: the prefix and nine 0xff bytes.
	past := append(append(make([]byte, 0, len(prefix)+9), prefix...), bytes.Repeat([]byte{0xff}, 9)...)
	var k, v []byte
	if k, _ = c.Seek(past); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

// deletePrefix deletes every key of b starting with prefix.
func deletePrefix(b *bbolt.Bucket, prefix []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// get decodes the JSON record at key into v and reports whether it exists.
func get(b *bbolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	return true, decode(key, data, v)
}

// decode decodes the JSON record data found at key into v.
func decode(key, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode record %q: %w", key, err)
	}
	return nil
}

// put encodes v as JSON and stores it at key. Templates are XML: leaving
// <, > and & unescaped keeps records smaller and quicker to decode.
func put(b *bbolt.Bucket, key []byte, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return b.Put(key, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
