package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentFor(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name              string
		live, floor       uint64
		base, wantPercent int
	}{
		{"a small live heap grows to the floor", 8 * mb, 64 * mb, 100, 700},
		{"the minimum heap is no more than the floor", 2 * mb, 64 * mb, 100, 1600},
		{"a tiny live heap, the same", mb / 2, 64 * mb, 100, 1600},
		{"half the floor live: GOGC's own growth reaches it", 32 * mb, 64 * mb, 100, 100},
		{"over half the floor: GOGC as it was", 40 * mb, 64 * mb, 100, 100},
		{"over the floor", 100 * mb, 64 * mb, 100, 100},
		{"a GOGC that lets the heap grow further is kept", 4 * mb, 64 * mb, 2000, 2000},
		{"a GOGC under 100 is kept past the floor", 100 * mb, 64 * mb, 50, 50},
		{"before the first collection: the minimum heap is the floor", 0, 64 * mb, 100, 1600},
		{"a floor under the minimum heap", 0, 2 * mb, 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.wantPercent, percentFor(tc.live, tc.floor, tc.base))
		})
	}
}

// gogc reads GOGC as the runtime has it.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// collectUntil collects garbage until GOGC is what ok wants, or fails the
// test after 10 seconds: the adjustment runs after a collection, on a
// goroutine of the runtime's.
func collectUntil(t *testing.T, ok func(percent int) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		if ok(gogc()) {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("GOGC is %d after 10 s of collections", gogc())
}

func TestKeepRaisesGOGCAfterEveryCollection(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := Keep(1 << 30) // far over any live heap of a test
	raised := func(p int) bool { return p > 10_000 }
	assert.True(t, raised(gogc()), "set at once, from the last collection")

	debug.SetGCPercent(100) // as if something had set it back
	collectUntil(t, raised)
	debug.SetGCPercent(100)
	collectUntil(t, raised) // not only after the first collection

	stop()
	assert.Equal(t, 100, gogc(), "stop puts back the GOGC Keep started from")
	debug.SetGCPercent(100)
	runtime.GC()
	runtime.GC()
	assert.Equal(t, 100, gogc(), "nothing adjusts after stop")
}

func TestKeepLeavesALargeLiveHeapAlone(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	stop := Keep(1) // every live heap is over it
	defer stop()
	runtime.GC()
	runtime.GC()
	assert.Equal(t, 150, gogc())
}

func TestKeepWithCollectionOff(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	stop := Keep(1 << 30)
	runtime.GC()
	require.Equal(t, -1, debug.SetGCPercent(-1), "collection stays off")
	stop()
	assert.Equal(t, -1, debug.SetGCPercent(-1))
}
