package api

import (
	"container/list"
	"errors"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"
	"weak"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// program is a compiled template and the parameters it reads. Bins whose
// templates are the same text share one.
type program struct {
	tmpl *engine.Template
	vars varSet

	// Set by the program table while it keeps the program, under its lock.
	src  string        // the template's text
	cost int64         // programCost(src)
	elem *list.Element // in the table's recency list
}

func newProgram(t *engine.Template) *program {
	return &program{tmpl: t, vars: newVarSet(t.Variables())}
}

// programCost estimates the heap that keeping a compiled template of src
// takes: its text, held as the table's key, and what compiling it holds,
// which grows with its tags. Measured with runtime.MemStats over 64 KiB
// templates: plain text compiles to about 2 bytes a byte of text; each
// {{tag}} adds some 250 to 1,000 bytes, depending on what surrounds it
// (a <Say> of one variable 700, a <Play> with one in an attribute and one
// in its URL 1,035 a tag). The estimate takes the top of that range, so a
// full cache holds at most its budget, and mostly less.
func programCost(src string) int64 {
	return 3*int64(len(src)) + 1024*int64(strings.Count(src, "{{"))
}

// compiled is a bin's template at one revision, ready to render.
type compiled struct {
	revision int
	policy   engine.Policy
	*program
}

// binTraits is what the bin URL needs of a bin besides its SID and usage
// Counter, as of the generations its table entry was read at. Bins of one
// account with the same template and policy have the same traits, which
// the table holds once (unique.Handle): 100,000 bins copied from one
// gallery example cost one binTraits, and the table's entries point at
// nothing else.
type binTraits struct {
	accountSID  string
	twilioToken string // "" when requests need no signature
	policy      engine.Policy
	// prog is the compiled template. The cache's program table holds it;
	// when the table drops it, the bin is loaded again.
	prog weak.Pointer[program]
	// compileErr is set instead of prog when the stored template or policy
	// no longer compiles (saved under an older engine).
	compileErr error
}

// servedBin is a bin as the bin URL serves it.
type servedBin struct {
	sid     string
	counter store.Counter // counts its requests
	binTraits
}

// binEntry is a bin as the bin table keeps it: valid while the store's
// generations of the bin and of its account are the ones read before the
// bin and the account's Twilio auth token were (store.Store.Generation).
type binEntry struct {
	binGen, accountGen uint64
	counter            store.Counter
	traits             unique.Handle[binTraits]
}

// sidKey is a bin SID as the bin table keys it: its 32 hex digits as 16
// bytes. The zero key marks an empty slot, so toSIDKey refuses the SID of
// 32 zeros, which is no bin's: SIDs are 128 random bits.
type sidKey [16]byte

// toSIDKey is the key of a bin SID, false when sid is not one ("EH" and 32
// lowercase hex digits).
func toSIDKey(sid string) (sidKey, bool) {
	var k sidKey
	if len(sid) != 2+2*len(k) || sid[:2] != store.BinSIDPrefix {
		return k, false
	}
	for i := range k {
		hi, ok1 := fromHex(sid[2+2*i])
		lo, ok2 := fromHex(sid[3+2*i])
		if !ok1 || !ok2 {
			return sidKey{}, false
		}
		k[i] = hi<<4 | lo
	}
	return k, k != sidKey{}
}

// fromHex is the value of a lowercase hex digit.
func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// templateCache keeps what the bin URL serves in memory, in two tables:
//
//   - programs, compiled templates by template text, at most maxPrograms
//     of them and maxBytes of their programCost, the least recently used
//     dropped first: they are the memory that counts (the gallery's
//     contextual-calling template, 500 bytes of text, compiles to some
//     15 kB; a 64 KiB one to 130 kB or, full of tags, 2.8 MB), and bins
//     with the same text, copied from the gallery, share one;
//   - bins, a binEntry by SID, at most maxBins (binTable): two
//     generations, the bin's usage Counter and a handle on traits that
//     bins share, which point weakly at their program.
//
// A bin is served from memory while the store's generations of the bin and
// of its account stay the same, so an update made through the store by
// anyone (this API, the web form) is seen by the next request, and a
// deleted bin is a 404 at once. A full bin table drops an entry chosen at
// random, which needs no bookkeeping on the read path.
type templateCache struct {
	db      store.Store
	metrics *metrics

	mu          sync.Mutex
	programs    map[string]*program // template text → program
	recent      list.List           // of *program, most recently used first
	maxPrograms int
	maxBytes    int64
	bytes       int64 // programCost of the programs kept, summed

	bins *binTable
}

func newTemplateCache(db store.Store, maxPrograms int, maxBytes int64, maxBins int, m *metrics) *templateCache {
	return &templateCache{
		db: db, metrics: m,
		programs: map[string]*program{}, maxPrograms: maxPrograms, maxBytes: maxBytes,
		bins: newBinTable(maxBins),
	}
}

// serve returns what the bin URL needs of bin sid, with its program, nil
// when bin.compileErr is set. In the common case it reads two atomic
// counters and nothing else; when the bin or its account may have changed,
// it reads them from the store. ErrNotFound when there is no such bin or
// sid is not a bin SID (toSIDKey), which is not looked for.
func (tc *templateCache) serve(sid string) (servedBin, *program, error) {
	key, ok := toSIDKey(sid)
	if !ok {
		return servedBin{}, nil, store.ErrNotFound
	}
	if e, ok := tc.bins.load(key); ok {
		traits := e.traits.Value()
		if tc.db.Generation(sid) == e.binGen && tc.db.Generation(traits.accountSID) == e.accountGen {
			if traits.compileErr != nil {
				tc.metrics.binCacheHits.Inc()
				return servedBin{sid, e.counter, traits}, nil, nil
			}
			if p := traits.prog.Value(); p != nil {
				tc.metrics.binCacheHits.Inc()
				return servedBin{sid, e.counter, traits}, p, nil
			}
		}
	}
	tc.metrics.binCacheMisses.Inc()
	return tc.load(key, sid)
}

// load reads bin sid, its Counter and its account's Twilio auth token
// from the store, each after its generation, and keeps them.
func (tc *templateCache) load(key sidKey, sid string) (servedBin, *program, error) {
	binGen := tc.db.Generation(sid)
	start := time.Now()
	bin, err := tc.db.BinBySID(sid)
	tc.metrics.observeStore(opBinBySID, start)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			tc.bins.remove(key)
		}
		return servedBin{}, nil, err
	}
	accountGen := tc.db.Generation(bin.AccountSID)
	start = time.Now()
	token, err := tc.db.TwilioAuthToken(bin.AccountSID)
	tc.metrics.observeStore(opTwilioToken, start)
	if err != nil {
		return servedBin{}, nil, err
	}
	counter := tc.db.Counter(sid)
	traits := binTraits{accountSID: bin.AccountSID, twilioToken: token}
	c, err := tc.compile(bin, true)
	if err != nil {
		traits.compileErr = err
	} else {
		traits.policy, traits.prog = c.policy, weak.Make(c.program)
	}
	tc.bins.store(key, binEntry{binGen: binGen, accountGen: accountGen, counter: counter, traits: unique.Make(traits)})
	if err != nil {
		return servedBin{sid, counter, traits}, nil, nil
	}
	return servedBin{sid, counter, traits}, c.program, nil
}

// peek returns b's compiled template without keeping what it compiles:
// management reads that walk many bins must not push out the templates
// being served. It returns the engine's error when the template or the
// policy no longer compiles.
func (tc *templateCache) peek(b store.Bin) (*compiled, error) {
	return tc.compile(b, false)
}

// put keeps a template the API has just compiled for a bin it saved, so
// that the bin's next request does not compile it again.
func (tc *templateCache) put(b store.Bin, t *engine.Template) {
	tc.addProgram(b.Template, newProgram(t))
}

// remove forgets a deleted bin.
func (tc *templateCache) remove(sid string) {
	if key, ok := toSIDKey(sid); ok {
		tc.bins.remove(key)
	}
}

// compile returns b's template compiled with its policy, from the program
// table when a bin with the same text has been compiled, and keeps a new
// program in the table when keep is set.
func (tc *templateCache) compile(b store.Bin, keep bool) (*compiled, error) {
	policy, err := engine.ParsePolicy(b.RenderPolicy)
	if err != nil {
		return nil, err
	}
	tc.mu.Lock()
	p := tc.programs[b.Template]
	if p != nil && keep {
		tc.recent.MoveToFront(p.elem)
	}
	tc.mu.Unlock()
	if p != nil {
		tc.metrics.cacheHits.Inc()
	} else {
		tc.metrics.cacheMisses.Inc()
		t, err := engine.Compile(b.Template)
		if err != nil {
			return nil, err
		}
		p = newProgram(t)
		if keep {
			p = tc.addProgram(b.Template, p)
		}
	}
	return &compiled{revision: b.Revision, policy: policy, program: p}, nil
}

// addProgram keeps p as the program of src, unless the table has one
// already (compiled meanwhile by another request), and returns the one
// kept. It drops the least recently used programs until the table is
// within its count and its bytes; a program over the byte budget alone is
// returned without being kept.
func (tc *templateCache) addProgram(src string, p *program) *program {
	cost := programCost(src)
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if old := tc.programs[src]; old != nil {
		tc.recent.MoveToFront(old.elem)
		return old
	}
	if cost > tc.maxBytes {
		return p
	}
	for len(tc.programs) >= tc.maxPrograms || tc.bytes+cost > tc.maxBytes {
		oldest := tc.recent.Remove(tc.recent.Back()).(*program)
		delete(tc.programs, oldest.src)
		tc.bytes -= oldest.cost
	}
	p.src, p.cost, p.elem = src, cost, tc.recent.PushFront(p)
	tc.programs[src] = p
	tc.bytes += cost
	return p
}

// binTable holds binEntries by SID in shards, each a small open-addressed
// table that a write replaces whole (copy on write), so that a lookup
// takes no lock, writes no shared memory and touches little memory at any
// number of bins. The shards are grouped in segments, arrays of their
// slices that a write also replaces whole: a lookup hashes the SID, loads
// its segment (the 64 segments take 96 KiB, which stays in the
// processor's cache) and reads the shard's slot, mostly one cache miss in
// all. (A Go map per shard adds its header, directory and table to
// each lookup; sync.Map, a trie, a miss per level.) The entries sit in
// the slots, keyed by arrays: the only pointers in them are the handles on
// shared traits, so that 100,000 bins add little for the garbage collector
// to follow. Each shard holds at most perShard bins; adding one to a full
// shard drops another, chosen at random.
type binTable struct {
	seed     maphash.Seed
	segments []tableSegment
	shards   int // per segment
	perShard int
}

// maxSegments is the most segments a table has, and segmentShards the
// most shards a segment holds.
const (
	maxSegments   = 64
	segmentShards = 64
)

type tableSegment struct {
	mu     sync.Mutex // held by writers
	shards atomic.Pointer[[segmentShards]binShard]
}

// binShard is a shard's table: a power of two of slots, at most three
// quarters full, or nil when the shard is empty.
type binShard []binSlot

// binSlot is a slot of a shard's table: empty when key is zero.
type binSlot struct {
	key   sidKey
	entry binEntry
}

// binsPerShard is about how many bins a full shard holds.
const binsPerShard = 64

func newBinTable(maxBins int) *binTable {
	n := 1 // shards
	for n < maxSegments*segmentShards && n*binsPerShard < maxBins {
		n *= 2
	}
	segments := min(n, maxSegments)
	return &binTable{
		seed:     maphash.MakeSeed(),
		segments: make([]tableSegment, segments),
		shards:   n / segments,
		perShard: max(1, maxBins/n),
	}
}

// locate returns the segment and shard of key, and the hash that places
// it in the shard's table.
func (t *binTable) locate(key *sidKey) (seg *tableSegment, shard int, h uint64) {
	h = maphash.Bytes(t.seed, key[:])
	seg = &t.segments[h%uint64(len(t.segments))]
	h /= uint64(len(t.segments))
	return seg, int(h % uint64(t.shards)), h / uint64(t.shards)
}

// load returns the entry of key, false when there is none.
func (t *binTable) load(key sidKey) (binEntry, bool) {
	seg, shard, h := t.locate(&key)
	if p := seg.shards.Load(); p != nil {
		slots := (*p)[shard]
		if i, ok := find(slots, key, h); ok {
			return slots[i].entry, true
		}
	}
	return binEntry{}, false
}

// find returns the slot of key in a shard, or false and the empty slot
// where it would go (-1 in an empty shard).
func find(slots binShard, key sidKey, h uint64) (int, bool) {
	if len(slots) == 0 {
		return -1, false
	}
	mask := uint64(len(slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch slots[i].key {
		case key:
			return int(i), true
		case sidKey{}:
			return int(i), false
		}
	}
}

// store adds or replaces the entry of key.
func (t *binTable) store(key sidKey, e binEntry) {
	seg, shard, _ := t.locate(&key)
	seg.mu.Lock()
	defer seg.mu.Unlock()
	kept := t.entries(seg, shard, key)
	if len(kept) >= t.perShard {
		// Drop one at random; the slots' order is the hashes', random.
		kept = slices.Delete(kept, len(kept)/2, len(kept)/2+1)
	}
	t.rebuild(seg, shard, append(kept, binSlot{key, e}))
}

// remove drops the entry of key.
func (t *binTable) remove(key sidKey) {
	seg, shard, h := t.locate(&key)
	seg.mu.Lock()
	defer seg.mu.Unlock()
	if p := seg.shards.Load(); p == nil {
		return
	} else if _, ok := find((*p)[shard], key, h); !ok {
		return
	}
	t.rebuild(seg, shard, t.entries(seg, shard, key))
}

// entries returns the filled slots of a shard but key's. seg.mu is held.
func (t *binTable) entries(seg *tableSegment, shard int, except sidKey) []binSlot {
	var kept []binSlot
	if p := seg.shards.Load(); p != nil {
		for _, s := range (*p)[shard] {
			if s.key != (sidKey{}) && s.key != except {
				kept = append(kept, s)
			}
		}
	}
	return kept
}

// rebuild replaces a shard of seg with one holding entries, in a copy of
// the segment. seg.mu is held.
func (t *binTable) rebuild(seg *tableSegment, shard int, entries []binSlot) {
	shards := new([segmentShards]binShard)
	if p := seg.shards.Load(); p != nil {
		*shards = *p
	}
	shards[shard] = nil
	if len(entries) > 0 {
		n := 4
		for n*3 < len(entries)*4 {
			n *= 2
		}
		slots := make(binShard, n)
		for _, s := range entries {
			_, _, h := t.locate(&s.key)
			i, _ := find(slots, s.key, h)
			slots[i] = s
		}
		shards[shard] = slots
	}
	seg.shards.Store(shards)
}

// len is how many bins the table holds.
func (t *binTable) len() int {
	n := 0
	for i := range t.segments {
		if p := t.segments[i].shards.Load(); p != nil {
			for _, slots := range *p {
				for _, s := range slots {
					if s.key != (sidKey{}) {
						n++
					}
				}
			}
		}
	}
	return n
}
