package etcdstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// This file is the layout in etcd: every key, every value, the schema
// version and the migrations that reach it.
//
// Every key begins with Config.Prefix (default "/twimlbin/"). Values are
// JSON records, except the version (decimal text) and the session key
// (raw bytes). Numbers in keys are zero-padded decimal, so that keys sort
// as their numbers do.
//
//	version                             → schema version, decimal ("1")
//	meta/session_key                    → 32 random bytes that sign the web form's session cookies
//	accounts/<account SID>              → accountRecord
//	quota/<account SID>                 → quotaRecord: the account's bins and the bytes of their kept revisions
//	bins/<bin SID>                      → binRecord: the bin's current content, account SID first
//	revisions/<bin SID>/<rev %010d>     → revisionRecord
//	usage/<bin SID>                     → usageRecord: flushed request counters
//	events/<bin SID>/<nanos %020d>-<node>-<seq %010d> → eventRecord
//
// An account's bins are listed in creation order, the CreateRevision of
// their bins/ keys; an event's key holds when its node took it (Unix
// nanoseconds, never going back on one node), the node's ID and the
// node's sequence number, so that each bin's log sorts oldest first.
// Accounts are never deleted; deleting a bin deletes its bins/, usage/,
// revisions/ and events/ keys in one transaction.

// Key names under the prefix.
const (
	keyVersion     = "version"
	keySessionKey  = "meta/session_key"
	dirAccounts    = "accounts/"
	dirQuota       = "quota/"
	dirBins        = "bins/"
	dirRevisions   = "revisions/"
	dirUsage       = "usage/"
	dirEvents      = "events/"
	sessionKeySize = 32
)

// keys makes the keys of one store: the names above under its prefix.
type keys struct{ prefix string }

func (k keys) version() string             { return k.prefix + keyVersion }
func (k keys) sessionKey() string          { return k.prefix + keySessionKey }
func (k keys) account(sid string) string   { return k.prefix + dirAccounts + sid }
func (k keys) quota(sid string) string     { return k.prefix + dirQuota + sid }
func (k keys) bin(sid string) string       { return k.prefix + dirBins + sid }
func (k keys) usage(sid string) string     { return k.prefix + dirUsage + sid }
func (k keys) revisions(sid string) string { return k.prefix + dirRevisions + sid + "/" }
func (k keys) events(sid string) string    { return k.prefix + dirEvents + sid + "/" }

func (k keys) revision(sid string, rev int) string {
	return fmt.Sprintf("%s%010d", k.revisions(sid), rev)
}

// event is the key of an event taken by node at Unix nanoseconds nanos,
// the node's seq-th.
func (k keys) event(sid string, nanos int64, node string, seq uint64) string {
	return fmt.Sprintf("%s%020d-%s-%010d", k.events(sid), nanos, node, seq)
}

// schemaVersion is the version of the layout this program writes: version
// 1 is the layout above, and each migration adds one.
func schemaVersion() int { return 1 + len(migrations) }

// migration turns the data under k from one schema version into the next.
// It may run more than once (two nodes starting at once, or one stopped
// half way), so it must leave data it already converted as it is.
type migration func(ctx context.Context, kv clientv3.KV, k keys) error

// migrations bring data from any earlier schema version to the current
// one: migrations[i] turns version i+1 into i+2. Append only; never edit
// or reorder a migration that has shipped.
var migrations = []migration{}

// setup writes the schema version under k when there is none, refuses a
// newer one, and runs the migrations of migs the data has not had yet,
// recording each version as it is reached.
func setup(ctx context.Context, kv clientv3.KV, k keys, migs []migration) error {
	current := 1 + len(migs)
	for {
		resp, err := kv.Get(ctx, k.version())
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			put, err := kv.Txn(ctx).
				If(clientv3.Compare(clientv3.CreateRevision(k.version()), "=", 0)).
				Then(clientv3.OpPut(k.version(), strconv.Itoa(current))).
				Commit()
			if err != nil {
				return err
			}
			if put.Succeeded {
				return nil
			}
			continue // another node wrote it first: read it
		}
		raw := string(resp.Kvs[0].Value)
		version, err := strconv.Atoi(raw)
		if err != nil || version < 1 {
			return fmt.Errorf("the schema version at %s is %q, not a version number: this prefix does not hold twimlbin data, or it was damaged", k.version(), raw)
		}
		switch {
		case version > current:
			return fmt.Errorf("the data at %s has schema version %d, newer than this program's %d: use a newer twimlbin", k.prefix, version, current)
		case version == current:
			return nil
		}
		if err := migs[version-1](ctx, kv, k); err != nil {
			return fmt.Errorf("migration to schema version %d: %w", version+1, err)
		}
		if _, err := kv.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(k.version()), "=", raw)).
			Then(clientv3.OpPut(k.version(), strconv.Itoa(version+1))).
			Commit(); err != nil {
			return err
		}
	}
}

// loadSessionKey returns the session key, made now with a transaction that
// only one node's can win when there is none, so every node reads the same.
// A key already made is read with a plain read first: etcd refuses every
// transaction that could write while it is out of space, and a node must
// still start then.
func loadSessionKey(ctx context.Context, kv clientv3.KV, k keys) ([]byte, error) {
	got, err := kv.Get(ctx, k.sessionKey())
	if err != nil {
		return nil, err
	}
	kvs := got.Kvs
	if len(kvs) == 0 {
		key := make([]byte, sessionKeySize)
		_, _ = rand.Read(key) // never fails (crypto/rand since Go 1.24)
		resp, err := kv.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k.sessionKey()), "=", 0)).
			Then(clientv3.OpPut(k.sessionKey(), string(key))).
			Else(clientv3.OpGet(k.sessionKey())).
			Commit()
		if err != nil {
			return nil, err
		}
		if resp.Succeeded {
			return key, nil
		}
		kvs = resp.Responses[0].GetResponseRange().Kvs
	}
	if len(kvs) != 1 || len(kvs[0].Value) != sessionKeySize {
		n := 0
		if len(kvs) == 1 {
			n = len(kvs[0].Value)
		}
		return nil, fmt.Errorf("the session key at %s is %d bytes, want %d: delete it (etcdctl del %s) to have a new one made, which signs every web session out", k.sessionKey(), n, sessionKeySize, k.sessionKey())
	}
	return kvs[0].Value, nil
}

// accountRecord is an account as stored. Only the SHA-256 of the auth
// token is kept (store.HashAuthToken); the Twilio auth token is kept as
// given, because request signatures are HMACs keyed with it. The bins and
// bytes its quotas bound are in its quotaRecord, so that bin writes do not
// change the account's key.
type accountRecord struct {
	SID             string    `json:"sid"`
	FriendlyName    string    `json:"friendly_name"`
	AuthTokenSHA256 []byte    `json:"auth_token_sha256"`
	TwilioAuthToken string    `json:"twilio_auth_token,omitempty"`
	SessionEpoch    uint64    `json:"session_epoch,omitempty"`
	DateCreated     time.Time `json:"date_created"`
	DateUpdated     time.Time `json:"date_updated"`
}

// quotaRecord is what an account's quotas bound: its bins, and the bytes
// of the templates of every kept revision of them. Every write that
// changes either compares the key's ModRevision.
type quotaRecord struct {
	Bins  int64 `json:"bins"`
	Bytes int64 `json:"bytes"`
}

// binRecord is a bin as stored: its current content, which is also saved
// as the revision numbered Revision. Bytes is the length of the templates
// of its kept revisions, summed.
type binRecord struct {
	AccountSID   string    `json:"account_sid"`
	SID          string    `json:"sid"`
	FriendlyName string    `json:"friendly_name"`
	RenderPolicy string    `json:"render_policy"`
	Revision     int       `json:"revision"`
	Bytes        int64     `json:"bytes"`
	DateCreated  time.Time `json:"date_created"`
	DateUpdated  time.Time `json:"date_updated"`
	Template     string    `json:"template"`
}

// revisionRecord is one saved revision of a bin.
type revisionRecord struct {
	Revision     int       `json:"revision"`
	FriendlyName string    `json:"friendly_name"`
	Template     string    `json:"template"`
	RenderPolicy string    `json:"render_policy"`
	DateCreated  time.Time `json:"date_created"`
}

// usageRecord is a bin's flushed usage: the requests counted and the
// time of the latest in Unix nanoseconds (0 for none). Flush names the
// flush that wrote it, node ID and number, so that a node whose write
// timed out can tell whether it landed rather than count it twice.
type usageRecord struct {
	Requests  int64  `json:"requests"`
	LastNanos int64  `json:"last_nanos,omitempty"`
	Flush     string `json:"flush,omitempty"`
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

// encode encodes a record as stored. Templates are XML: leaving <, > and
// & unescaped keeps records smaller and quicker to decode.
func encode(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // the records above always encode
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// decode decodes the record stored at key.
func decode(key string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode record %s: %w", key, err)
	}
	return nil
}
