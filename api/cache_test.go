package api

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/twimlbin/twimlbin/internal/backendtest"
	"github.com/twimlbin/twimlbin/store"
)

// newCacheEnv is a template cache over a real store of the test run's
// backend holding one account.
func newCacheEnv(t *testing.T, maxPrograms, maxBins int) (*templateCache, store.Store, string) {
	t.Helper()
	db, err := backendtest.New(t).Open(store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := backendtest.Check(db); err != nil {
			t.Errorf("store: %v", err)
		}
		db.Close()
	})
	acct, _, err := db.CreateAccount("alice")
	if err != nil {
		t.Fatal(err)
	}
	return newTemplateCache(db, maxPrograms, DefaultCacheBytes, maxBins, newMetrics(db)), db, acct.SID
}

// renderServed serves sid from the cache and renders it with no parameters.
func renderServed(t *testing.T, tc *templateCache, sid string) string {
	t.Helper()
	b, p, err := tc.serve(sid)
	if err != nil {
		t.Fatalf("serve %s: %v", sid, err)
	}
	if p == nil {
		t.Fatalf("serve %s: no program (%v)", sid, b.compileErr)
	}
	out, _, err := p.tmpl.Render(nil, b.policy)
	if err != nil {
		t.Fatalf("render %s: %v", sid, err)
	}
	return string(out)
}

func say(s string) string { return "<Response><Say>" + s + "</Say></Response>" }

// TestTemplateCacheSeesStoreWrites: whatever writes through the store, the
// next serve sees it, and an unchanged bin is served from memory.
func TestTemplateCacheSeesStoreWrites(t *testing.T) {
	tc, db, acct := newCacheEnv(t, 10, 10)
	bin, err := db.CreateBin(acct, storeInput("a", say("one"), "strict"))
	if err != nil {
		t.Fatal(err)
	}
	if got := renderServed(t, tc, bin.SID); got != say("one") {
		t.Fatalf("first serve: %s", got)
	}
	first, _, _ := tc.serve(bin.SID)
	if again, _, _ := tc.serve(bin.SID); again != first {
		t.Error("an unchanged bin was read again")
	}

	if _, err := db.UpdateBin(acct, bin.SID, 0, storeInput("a", say("two"), "lenient")); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := tc.serve(bin.SID); b == first {
		t.Error("an updated bin was served from memory")
	}
	if got := renderServed(t, tc, bin.SID); got != say("two") {
		t.Errorf("after an update: %s", got)
	}
	if b, _, _ := tc.serve(bin.SID); b.policy.String() != "lenient" {
		t.Errorf("policy %s after the update", b.policy)
	}
	if _, err := db.RestoreRevision(acct, bin.SID, 1, 0); err != nil {
		t.Fatal(err)
	}
	if got := renderServed(t, tc, bin.SID); got != say("one") {
		t.Errorf("after a restore: %s", got)
	}

	if _, err := db.SetTwilioAuthToken(acct, "secret"); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := tc.serve(bin.SID); b.twilioToken != "secret" {
		t.Errorf("token %q after setting it", b.twilioToken)
	}
	if _, err := db.SetTwilioAuthToken(acct, ""); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := tc.serve(bin.SID); b.twilioToken != "" {
		t.Errorf("token %q after clearing it", b.twilioToken)
	}

	if err := db.DeleteBin(acct, bin.SID, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tc.serve(bin.SID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a delete: %v, want ErrNotFound", err)
	}
	if _, kept := tc.bins.load(mustKey(t, bin.SID)); kept || tc.bins.len() != 0 {
		t.Errorf("a deleted bin is kept (%d bins)", tc.bins.len())
	}
}

func TestTemplateCacheBounds(t *testing.T) {
	tc, db, acct := newCacheEnv(t, 3, 5)
	var sids []string
	for i := range 10 {
		// Two bins per template text.
		bin, err := db.CreateBin(acct, storeInput("b", say(fmt.Sprint(i/2)), "strict"))
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, bin.SID)
		if got, want := renderServed(t, tc, bin.SID), say(fmt.Sprint(i/2)); got != want {
			t.Errorf("bin %d renders %s, want %s", i, got, want)
		}
	}
	if n := tc.bins.len(); n != 5 {
		t.Errorf("%d bins kept, want 5", n)
	}
	if n := len(tc.programs); n != 3 {
		t.Errorf("%d programs kept, want 3", n)
	}
	// Bins with the same text share a program.
	_, p8, _ := tc.serve(sids[8])
	_, p9, _ := tc.serve(sids[9])
	if p8 != p9 {
		t.Error("two bins with the same text have two programs")
	}

	// A bin whose program was dropped and collected is loaded again.
	runtime.GC()
	for i, sid := range sids {
		if got, want := renderServed(t, tc, sid), say(fmt.Sprint(i/2)); got != want {
			t.Errorf("bin %d renders %s after a GC, want %s", i, got, want)
		}
	}
}

func TestTemplateCachePeekAndPut(t *testing.T) {
	tc, db, acct := newCacheEnv(t, 10, 10)
	bin, err := db.CreateBin(acct, storeInput("p", say("peek"), "lenient"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tc.peek(bin)
	if err != nil {
		t.Fatal(err)
	}
	if c.revision != bin.Revision || c.policy.String() != "lenient" {
		t.Errorf("peek: revision %d policy %s", c.revision, c.policy)
	}
	if len(tc.programs) != 0 {
		t.Error("peek kept its template")
	}
	tc.put(bin, c.tmpl)
	if p := tc.programs[bin.Template]; p == nil || p.tmpl != c.tmpl {
		t.Error("put did not keep the template")
	}
	if b, p, err := tc.serve(bin.SID); err != nil || p == nil || p.tmpl != c.tmpl || b.compileErr != nil {
		t.Errorf("serve after put: %v, %v", p, err)
	}
}

// TestTemplateCacheBrokenTemplate: a stored template that no longer
// compiles is served as such, not as an error of the cache.
func TestTemplateCacheBrokenTemplate(t *testing.T) {
	tc, db, acct := newCacheEnv(t, 10, 10)
	bin, err := db.CreateBin(acct, storeInput("broken", "<Response>", "lenient"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		b, p, err := tc.serve(bin.SID)
		if err != nil || p != nil || b.compileErr == nil {
			t.Errorf("serve: %+v, %v, %v", b, p, err)
		}
	}
	if _, err := tc.peek(bin); err == nil {
		t.Error("peek compiled a broken template")
	}
}

func mustKey(t *testing.T, sid string) sidKey {
	t.Helper()
	k, ok := toSIDKey(sid)
	if !ok {
		t.Fatalf("%q is not a SID", sid)
	}
	return k
}

func TestBinTable(t *testing.T) {
	for _, max := range []int{1, 5, 1000, 20000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			tab := newBinTable(max)
			key := func(i int) sidKey { return mustKey(t, fmt.Sprintf("EH%032x", i+1)) }
			for i := range 3 * max {
				tab.store(key(i), binEntry{binGen: uint64(i)})
				if e, ok := tab.load(key(i)); !ok || e.binGen != uint64(i) {
					t.Fatalf("bin %d not found after its store", i)
				}
			}
			if n := tab.len(); n > max || n < max/2 {
				t.Errorf("%d bins kept of %d stored, want at most %d and not far below", n, 3*max, max)
			}
			last := key(3*max - 1)
			tab.store(last, binEntry{binGen: 7})
			if e, ok := tab.load(last); !ok || e.binGen != 7 {
				t.Errorf("a replaced entry reads %+v, %v", e, ok)
			}
			n := tab.len()
			tab.remove(last)
			tab.remove(key(3 * max))
			if _, ok := tab.load(last); ok || tab.len() != n-1 {
				t.Errorf("remove: %d bins, want %d", tab.len(), n-1)
			}
		})
	}
	for _, sid := range []string{"EH123", "EH" + strings.Repeat("0", 32), "EH" + strings.Repeat("A", 32), "AC" + strings.Repeat("a", 32), "EH" + strings.Repeat("g", 32)} {
		if _, ok := toSIDKey(sid); ok {
			t.Errorf("%q made a key", sid)
		}
	}
	if a, b := mustKey(t, "EH"+strings.Repeat("ab", 16)), mustKey(t, "EH"+strings.Repeat("ba", 16)); a == b {
		t.Error("two SIDs made one key")
	}
}

func TestBinTableConcurrent(t *testing.T) {
	tab := newBinTable(100)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				n := (g*7+i)%300 + 1
				key := mustKey(t, fmt.Sprintf("EH%032x", n))
				if i%3 == 0 {
					tab.remove(key)
				} else {
					tab.store(key, binEntry{binGen: uint64(n)})
				}
				if e, ok := tab.load(key); ok && e.binGen != uint64(n) {
					t.Errorf("load of bin %d gave bin %d's entry", n, e.binGen)
				}
			}
		})
	}
	wg.Wait()
	if n := tab.len(); n > 100 {
		t.Errorf("%d bins kept, want at most 100", n)
	}
}

// TestBinTraitsShared checks that bins of one account with one template
// and policy share their traits: the table's entries hold a handle each,
// not a copy.
func TestBinTraitsShared(t *testing.T) {
	tc, db, acct := newCacheEnv(t, 10, 10)
	var entries []binEntry
	for _, text := range []string{say("a"), say("a"), say("b")} {
		bin, err := db.CreateBin(acct, storeInput("b", text, "strict"))
		if err != nil {
			t.Fatal(err)
		}
		renderServed(t, tc, bin.SID)
		e, ok := tc.bins.load(mustKey(t, bin.SID))
		if !ok {
			t.Fatalf("bin %s not kept after serving it", bin.SID)
		}
		entries = append(entries, e)
	}
	if entries[0].traits != entries[1].traits {
		t.Error("two bins with the same template have traits of their own")
	}
	if entries[0].traits == entries[2].traits {
		t.Error("bins with different templates share traits")
	}
}

// TestTemplateCacheByteBudget: programs are kept while their cost fits the
// budget exactly; one more drops the least recently used, and one that
// alone is over the budget is compiled but not kept.
func TestTemplateCacheByteBudget(t *testing.T) {
	tc, db, acct := newCacheEnv(t, 100, 100)
	cost := programCost(say("0"))
	tc.maxBytes = 3 * cost
	var bins []store.Bin
	for i := range 4 {
		b, err := db.CreateBin(acct, storeInput("b", say(fmt.Sprint(i)), "lenient"))
		if err != nil {
			t.Fatal(err)
		}
		bins = append(bins, b)
	}
	for _, b := range bins[:3] {
		if _, err := tc.compile(b, true); err != nil {
			t.Fatal(err)
		}
	}
	if tc.bytes != 3*cost || len(tc.programs) != 3 {
		t.Fatalf("at the budget: %d bytes in %d programs, want %d in 3", tc.bytes, len(tc.programs), 3*cost)
	}
	if _, err := tc.compile(bins[0], true); err != nil { // used again: the most recent
		t.Fatal(err)
	}
	if _, err := tc.compile(bins[3], true); err != nil {
		t.Fatal(err)
	}
	if tc.bytes != 3*cost || len(tc.programs) != 3 {
		t.Errorf("one over: %d bytes in %d programs, want %d in 3", tc.bytes, len(tc.programs), 3*cost)
	}
	if tc.programs[bins[1].Template] != nil || tc.programs[bins[0].Template] == nil {
		t.Error("the least recently used program is not the one dropped")
	}

	big, err := db.CreateBin(acct, storeInput("big", say(strings.Repeat("x", int(3*cost))), "lenient"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := tc.compile(big, true); err != nil || c.program == nil {
		t.Fatalf("compile over the budget: %v", err)
	}
	if tc.programs[big.Template] != nil || tc.bytes != 3*cost {
		t.Error("a program over the whole budget was kept")
	}
}
