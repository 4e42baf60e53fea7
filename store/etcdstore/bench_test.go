package etcdstore

import (
	"fmt"
	"testing"

	"github.com/twimlbin/twimlbin/store"
)

// benchTemplate is a bin of a realistic size, as store's benchmarks use.
const benchTemplate = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say voice="Polly.Joanna">Hello {{Name}}, thanks for calling about order {{OrderId}}.</Say>
  {{#Agent}}<Dial callerId="{{CallerId}}" timeout="20"><Number>{{Agent}}</Number></Dial>{{/Agent}}
  {{^Agent}}<Say>All our agents are busy. Please leave a message after the tone.</Say><Record maxLength="120"/>{{/Agent}}
</Response>`

// BenchmarkBinBySID reads bins from a node's memory, as the bin URL does
// when a bin has been written since it last served it, among 100,000:
// spread over all of them, and over the 100 most recent. Compare with
// store's BenchmarkBinBySID, which reads a bbolt file. The bins are put
// in memory as the watch would put them, not written to etcd, which
// BinBySID never reads.
func BenchmarkBinBySID(b *testing.B) {
	s, _, _ := shared(b, testOptions)
	acct := newAccount(b, s)
	sids := make([]string, 100_000)
	t := now()
	s.mu.Lock()
	rev := s.mem.rev
	for i := range sids {
		rev++
		sids[i] = store.NewSID(store.BinSIDPrefix)
		s.mem.putBin(s.counters, binRecord{
			AccountSID: acct, SID: sids[i], FriendlyName: fmt.Sprintf("bin %d", i), RenderPolicy: "lenient",
			Revision: 1, Bytes: int64(len(benchTemplate)), DateCreated: t, DateUpdated: t, Template: benchTemplate,
		}, rev, rev)
	}
	s.mu.Unlock()
	hot := sids[len(sids)-100:]

	for _, bc := range []struct {
		name string
		sids []string
	}{{"spread", sids}, {"hot", hot}} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := s.BinBySID(bc.sids[i%len(bc.sids)]); err != nil {
					b.Fatal(err)
				}
				i += 7919 // a prime: hop around
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := s.BinBySID(bc.sids[i%len(bc.sids)]); err != nil {
						b.Error(err)
						return
					}
					i += 7919
				}
			})
		})
	}
}
