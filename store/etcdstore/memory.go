package etcdstore

import (
	"slices"
	"sort"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// memory is what a node holds of etcd: every account with its quota
// record, and every bin's current record and flushed usage, each with the
// etcd revisions it was written at. It is loaded at Open, kept current by
// the watch, and changed by the node's own writes as soon as they commit;
// whichever of the two comes second finds the entry as new as what it
// brings and leaves it. Guarded by Store.mu.
type memory struct {
	// rev is the revision up to which the watch has applied every change
	// (or the revision a load read at): nothing at or below it is applied
	// again, since memory already holds it or something newer.
	rev int64

	accounts  map[string]*accountEntry
	quotas    map[string]quotaEntry
	bins      map[string]*binEntry
	byAccount map[string][]binRef // each account's bins, in creation order
	// tombstones holds the revision of each bin deleted since rev: a
	// late write of it, at or below that, does not bring it back.
	tombstones map[string]int64
	// inflight lists the bins whose usage a flush is writing.
	inflight map[string]struct{}
}

type accountEntry struct {
	rec    accountRecord
	modRev int64
}

type quotaEntry struct {
	rec    quotaRecord
	modRev int64
}

type binEntry struct {
	rec               binRecord
	createRev, modRev int64
	slot              uint32 // in Store.counters

	usage       usageRecord // as flushed, by any node
	usageModRev int64
	// inflight are the requests of this node that a flush is writing:
	// read as counted until the flush is seen to have landed (its token
	// in usage), or the bin is deleted.
	inflight inflightUsage
}

// inflightUsage is what a flush writes of one bin's requests, under the
// flush's token ("" for none).
type inflightUsage struct {
	token     string
	requests  int64
	lastNanos int64
}

// binRef places a bin in its account's list.
type binRef struct {
	createRev int64
	sid       string
}

func newMemory() *memory {
	return &memory{
		accounts:   map[string]*accountEntry{},
		quotas:     map[string]quotaEntry{},
		bins:       map[string]*binEntry{},
		byAccount:  map[string][]binRef{},
		tombstones: map[string]int64{},
		inflight:   map[string]struct{}{},
	}
}

// putAccount keeps rec, written at modRev, unless memory holds something
// as new, and reports whether it changed.
func (m *memory) putAccount(rec accountRecord, modRev int64) bool {
	if modRev <= m.rev {
		return false
	}
	if e, ok := m.accounts[rec.SID]; ok && e.modRev >= modRev {
		return false
	}
	m.accounts[rec.SID] = &accountEntry{rec: rec, modRev: modRev}
	return true
}

// putQuota keeps account sid's quota record, written at modRev, unless
// memory holds something as new.
func (m *memory) putQuota(sid string, rec quotaRecord, modRev int64) {
	if modRev <= m.rev {
		return
	}
	if e, ok := m.quotas[sid]; ok && e.modRev >= modRev {
		return
	}
	m.quotas[sid] = quotaEntry{rec: rec, modRev: modRev}
}

// putBin keeps rec, created at createRev and written at modRev, unless
// memory holds something as new or the bin was deleted at or after
// modRev, and reports whether it changed. A bin new to memory gets a
// counter slot from counters.
func (m *memory) putBin(counters *counterTable, rec binRecord, createRev, modRev int64) bool {
	if modRev <= m.rev || m.tombstones[rec.SID] >= modRev {
		return false
	}
	if e, ok := m.bins[rec.SID]; ok {
		if e.modRev >= modRev {
			return false
		}
		e.rec, e.modRev = rec, modRev
		return true
	}
	m.bins[rec.SID] = &binEntry{rec: rec, createRev: createRev, modRev: modRev, slot: counters.assign(rec.SID)}
	refs := m.byAccount[rec.AccountSID]
	i := sort.Search(len(refs), func(i int) bool { return refs[i].createRev >= createRev })
	m.byAccount[rec.AccountSID] = slices.Insert(refs, i, binRef{createRev, rec.SID})
	return true
}

// deleteBin forgets bin sid, deleted at rev, unless memory holds a write
// of it newer than that, and reports whether it changed. Its counter slot
// goes back to counters, with the requests not flushed.
func (m *memory) deleteBin(counters *counterTable, sid string, rev int64) bool {
	if rev <= m.rev {
		return false
	}
	e, ok := m.bins[sid]
	if ok && e.modRev >= rev {
		return false
	}
	m.tombstones[sid] = max(m.tombstones[sid], rev)
	if !ok {
		return false
	}
	m.forgetBin(counters, e)
	return true
}

// forgetBin drops a bin's entry, its place in its account's list and its
// counter slot.
func (m *memory) forgetBin(counters *counterTable, e *binEntry) {
	delete(m.bins, e.rec.SID)
	delete(m.inflight, e.rec.SID)
	refs := m.byAccount[e.rec.AccountSID]
	if i, found := sort.Find(len(refs), func(i int) int { return cmpRev(e.createRev, refs[i].createRev) }); found {
		refs = slices.Delete(refs, i, i+1)
	}
	if len(refs) == 0 {
		delete(m.byAccount, e.rec.AccountSID)
	} else {
		m.byAccount[e.rec.AccountSID] = refs
	}
	counters.release(e.slot)
}

func cmpRev(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// putUsage keeps bin sid's flushed usage, written at modRev, unless memory
// holds something as new. A flush of this node seen to have landed, by
// its token, is no longer in flight, whatever the revision.
func (m *memory) putUsage(sid string, rec usageRecord, modRev int64) {
	e, ok := m.bins[sid]
	if !ok {
		return
	}
	if rec.Flush != "" && rec.Flush == e.inflight.token {
		e.inflight = inflightUsage{}
		delete(m.inflight, sid)
	}
	if modRev <= m.rev || e.usageModRev >= modRev {
		return
	}
	e.usage, e.usageModRev = rec, modRev
}

// passed records that every change up to rev has been applied, and drops
// the tombstones no late write can pass any more.
func (m *memory) passed(rev int64) {
	if rev <= m.rev {
		return
	}
	m.rev = rev
	for sid, at := range m.tombstones {
		if at <= rev {
			delete(m.tombstones, sid)
		}
	}
}

// change is one key written or deleted, as the watch or a load reads it.
type change struct {
	key               string // without the prefix
	value             []byte
	createRev, modRev int64
	deleted           bool
}

func changeOf(prefix string, ev *mvccpb.Event) change {
	kv := ev.Kv
	return change{
		key:       strings.TrimPrefix(string(kv.Key), prefix),
		value:     kv.Value,
		createRev: kv.CreateRevision,
		modRev:    kv.ModRevision,
		deleted:   ev.Type == mvccpb.DELETE,
	}
}
