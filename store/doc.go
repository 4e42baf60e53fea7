// Package store keeps twimlbin's data: accounts and the hashes of their
// auth tokens, bins, every saved revision of each bin, per-bin usage
// counters and a bounded log of recent render events.
//
// It defines what the API and the web form need of a database (Store, in
// backend.go), the records they exchange, the rules every write follows
// whatever the backend (rules.go, name.go, quota.go) and the form of a
// whole store for copies between backends (copy.go). It also holds the
// default backend, DB: one embedded bbolt file, the only code that
// imports go.etcd.io/bbolt; its on-disk layout, schema version and
// migrations are all in schema.go. The other backend, an etcd cluster
// shared by several nodes, is package store/etcdstore; both pass the
// conformance suite in store/storetest.
//
// What follows describes DB.
//
// # Durability
//
// Account and bin writes (create, update, restore, delete) are synchronous:
// each is one bbolt write transaction, committed and synced to disk before
// the method returns. Serving a bin does no write at all: every bin's usage
// counters are held in memory (a slot of 16 bytes each, read from the file
// at Open), where Count and RecordRequest add to them, and AddEvent buffers
// events; a background goroutine writes the counters that changed and the
// events in one transaction every FlushInterval, and Close writes once
// more. A crash therefore loses at most the last FlushInterval of usage
// counters and events, and never a saved bin.
//
// A file that cannot be written can still be opened with Options.ReadOnly:
// every read works, every write fails with ErrReadOnly, and usage counters
// and events stay in memory.
//
// # Reads
//
// Every read is one bbolt read transaction and never waits for a writer.
// Decoded account records are kept in a bounded in-memory cache and reused
// only while the bytes stored for them are unchanged, so authenticating
// costs a lookup and a byte comparison rather than a JSON decode.
//
// Generation lets a caller skip reading altogether: the DB counts, in
// memory, the writes of every bin and account (shared counters, bumped once
// a write commits), and a record read after its generation is current for
// as long as the generation stays the same. The bin URL serves from memory
// that way and still sees every write on the next request.
//
// # Rules
//
// What a bin and an account may hold is decided here, once, for every
// backend and every caller (rules.go, name.go): CheckBinInput (friendly
// name, render policy, template size), which CreateBin, UpdateBin and
// RestoreRevision apply before writing; CheckFriendlyName for accounts;
// CheckTwilioAuthToken. BinPatch is the one merge of a partial update.
// Callers may ask the same functions first, to answer before doing other
// work. That a template compiles is the one rule left to the callers: the
// store does not import the engine.
//
// # Errors
//
// Methods return errors wrapping ErrNotFound, ErrConflict, ErrUnauthorized,
// ErrBadPageToken or ErrReadOnly for what the caller did or may not do, and
// ErrBadFriendlyName, ErrBadRenderPolicy, ErrTemplateTooLarge or
// ErrBadTwilioAuthToken for what the rules refuse; compare with errors.Is. A bin of another account is ErrNotFound,
// indistinguishable from a missing one. ErrCorrupt is a damaged file: Open
// refuses one (running bbolt's consistency check first when the file was
// not closed cleanly), and a damaged page met later fails the call that
// reaches it instead of panicking. Any other error is the file's or the
// disk's.
//
// A DB is safe for concurrent use by multiple goroutines.
package store
