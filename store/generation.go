package store

import (
	"hash/maphash"
	"sync/atomic"
)

// Generation returns the write generation of the bin or account with this
// SID: a number that grows after every write of the record (a bin's
// create, update, restore or delete; any change of an account, its Twilio
// auth token included) commits, before the method that wrote returns.
// Usage counters and events are not writes of the record.
//
// Records share counters, so the number may also grow when another record
// is written; it never stays the same across a write of this one. A caller
// that reads Generation, then reads the record, and later gets the same
// Generation knows that what it read is still what is stored: this is how
// the bin URL serves a bin from memory without a read transaction, and
// still sees an update on the very next request, whoever wrote it through
// this DB. The file is locked to one DB, so there is no other writer.
//
// It costs a hash of the SID and an atomic load. The numbers start again
// from zero when the database is opened: compare them only within one DB.
func (db *DB) Generation(sid string) uint64 {
	return db.gens.Load(sid)
}

// generationStripes is how many counters the records share. A write makes
// the records on its stripe look written too: with 8192 stripes, an update
// to one of 100,000 bins costs about a dozen others one read each.
const generationStripes = 1 << 13

// Generations are the counters behind Generation, for every backend: a
// fixed array, so they take the same memory (64 KiB) however many records
// exist or were ever deleted, and the read path takes no lock.
type Generations struct {
	seed     maphash.Seed
	counters [generationStripes]atomic.Uint64
}

// NewGenerations returns counters that all start at zero.
func NewGenerations() *Generations {
	return &Generations{seed: maphash.MakeSeed()}
}

func (g *Generations) counter(sid string) *atomic.Uint64 {
	return &g.counters[maphash.String(g.seed, sid)%generationStripes]
}

// Load returns the generation of the record sid.
func (g *Generations) Load(sid string) uint64 {
	return g.counter(sid).Load()
}

// Bump records a write of the record sid. Writers call it once the write
// has returned, committed or not, and before telling their caller: a bump
// too many costs a reader one read, a missing one would serve a stale
// record.
func (g *Generations) Bump(sid string) {
	g.counter(sid).Add(1)
}
