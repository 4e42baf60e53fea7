package store

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// benchTemplate is a bin of a realistic size: the contextual-calling
// template of the gallery is about this long.
const benchTemplate = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say voice="Polly.Joanna">Hello {{Name}}, thanks for calling about order {{OrderId}}.</Say>
  {{#Agent}}<Dial callerId="{{CallerId}}" timeout="20"><Number>{{Agent}}</Number></Dial>{{/Agent}}
  {{^Agent}}<Say>All our agents are busy. Please leave a message after the tone.</Say><Record maxLength="120"/>{{/Agent}}
</Response>`

// fillBins stores n bins of one account, a batch per write transaction,
// and returns their SIDs.
func fillBins(b *testing.B, db *DB, n int) []string {
	b.Helper()
	acct, _, err := db.CreateAccount("bench")
	require.NoError(b, err)
	// Growing the file syncs it even with NoSync; not worth it for a fixture.
	db.bolt.NoGrowSync = true
	defer func() { db.bolt.NoGrowSync = false }()
	sids := make([]string, 0, n)
	const perTx = 10_000
	t := now()
	db.usageMu.Lock()
	defer db.usageMu.Unlock()
	slots := make([]uint32, 0, n)
	for len(sids) < n {
		require.NoError(b, db.bolt.Update(func(tx *bbolt.Tx) error {
			for i := 0; i < perTx && len(sids) < n; i++ {
				slot := db.usage.reserve()
				rec, err := createBin(tx, db.accounts, db.opts, acct.SID, BinInput{
					FriendlyName: fmt.Sprintf("bin %d", len(sids)), Template: benchTemplate, RenderPolicy: "lenient",
				}, t, slot)
				if err != nil {
					return err
				}
				sids, slots = append(sids, rec.SID), append(slots, slot)
			}
			return nil
		}))
	}
	for i, sid := range sids {
		db.usage.assign(sid, slots[i])
	}
	return sids
}

// BenchmarkBinBySID reads bins, as the bin URL does when a bin has been
// written since it last served it, from a database of 100,000: spread over
// all of them, and over the 100 most recent (their pages stay cached).
func BenchmarkBinBySID(b *testing.B) {
	db := openTest(b)
	start := time.Now()
	sids := fillBins(b, db, 100_000)
	b.Logf("stored %d bins in %s", len(sids), time.Since(start).Round(time.Millisecond))
	hot := sids[len(sids)-100:]

	for _, bc := range []struct {
		name string
		sids []string
	}{{"spread", sids}, {"hot", hot}} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := db.BinBySID(bc.sids[i%len(bc.sids)]); err != nil {
					b.Fatal(err)
				}
				i += 7919 // a prime: hop around the file
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := db.BinBySID(bc.sids[i%len(bc.sids)]); err != nil {
						b.Error(err)
						return
					}
					i += 7919
				}
			})
		})
	}
}

// BenchmarkCreateBin creates bins one synchronous transaction each, with
// fsync as in production.
func BenchmarkCreateBin(b *testing.B) {
	db := openTestWith(b, filepath.Join(b.TempDir(), "twimlbin.db"), Options{FlushInterval: time.Hour})
	acct, _, err := db.CreateAccount("bench")
	require.NoError(b, err)
	in := BinInput{FriendlyName: "bench", Template: benchTemplate, RenderPolicy: "lenient"}
	for b.Loop() {
		if _, err := db.CreateBin(acct.SID, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	db := openTest(b)
	acct, token, err := db.CreateAccount("bench")
	require.NoError(b, err)
	for b.Loop() {
		if _, err := db.Authenticate(acct.SID, token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordRequest counts requests to 1,000 bins by SID.
func BenchmarkRecordRequest(b *testing.B) {
	db := openTest(b)
	sids := fillBins(b, db, 1000)
	at := now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			db.RecordRequest(sids[i%len(sids)], at)
			i++
		}
	})
}

// BenchmarkCount counts requests through kept Counters, as the bin URL
// does: "one" to one bin from every core, "spread" over 100,000 bins.
func BenchmarkCount(b *testing.B) {
	db := openTest(b)
	sids := fillBins(b, db, 100_000)
	counters := make([]Counter, len(sids))
	for i, sid := range sids {
		counters[i] = db.Counter(sid)
	}
	order := rand.Perm(len(counters)) // random, not a stride the processor would prefetch
	at := now()
	for _, bc := range []struct {
		name string
		next func(i int) Counter
	}{
		{"one", func(int) Counter { return counters[0] }},
		{"spread", func(i int) Counter { return counters[order[i%len(order)]] }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(counters))
				for pb.Next() {
					db.Count(bc.next(i), at)
					i++
				}
			})
		})
	}
}

// BenchmarkFlushSpread flushes the usage of 30,000 bins of 100,000, each
// requested once since the last flush: what serving random bins at 30,000
// requests per second costs the flusher every second.
func BenchmarkFlushSpread(b *testing.B) {
	db := openTest(b)
	sids := fillBins(b, db, 100_000)
	at := now()
	for _, sid := range sids { // every bin has usage already, as in a server that has run a while
		db.RecordRequest(sid, at)
	}
	require.NoError(b, db.Flush())
	i := 0
	for b.Loop() {
		b.StopTimer()
		for range 30_000 {
			db.RecordRequest(sids[i%len(sids)], at)
			i += 7919
		}
		b.StartTimer()
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBinLookupMiss: what an account pays to be told "not found",
// for a SID that does not exist and for another account's bin with a
// 64 KiB template; the two should cost about the same.
func BenchmarkBinLookupMiss(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: true, FlushInterval: time.Hour})
	require.NoError(b, err)
	b.Cleanup(func() { db.Close() })
	alice, _, err := db.CreateAccount("alice")
	require.NoError(b, err)
	bob, _, err := db.CreateAccount("bob")
	require.NoError(b, err)
	big, err := db.CreateBin(alice.SID, BinInput{
		FriendlyName: "big", RenderPolicy: "lenient",
		Template: "<Response><Say>" + strings.Repeat("a", 64<<10-100) + "</Say></Response>",
	})
	require.NoError(b, err)
	for _, bc := range []struct{ name, sid string }{{"unknown", unknownBin}, {"other-account-64KiB", big.SID}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.Bin(bob.SID, bc.sid); err == nil {
					b.Fatal("found another account's bin")
				}
			}
		})
	}
}
