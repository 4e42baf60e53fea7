package ratelimit

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a time tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiterAtItsEdge(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(Rate{Events: 10, Per: time.Minute, Burst: 20}, Rate{}, 0, c.now)
	for i := range 20 {
		require.Zero(t, l.Wait("a"), "event %d of the burst", i+1)
		l.Add("a")
	}
	assert.Equal(t, 6*time.Second, l.Wait("a"), "the 21st waits for one interval")
	assert.Zero(t, l.Wait("b"), "another key is not affected")
	c.t = c.t.Add(6 * time.Second)
	assert.Zero(t, l.Wait("a"), "one event regained")
	l.Add("a")
	assert.Equal(t, 6*time.Second, l.Wait("a"))
	c.t = c.t.Add(2 * time.Minute)
	for i := range 20 {
		require.Zero(t, l.Wait("a"), "a full burst again after the window: event %d", i+1)
		l.Add("a")
	}
}

func TestLimiterDefaultsAndOff(t *testing.T) {
	l := New(Rate{}, DefaultSignups, 0, nil)
	for range DefaultSignups.Burst {
		l.Add("x")
	}
	assert.InDelta(t, float64(12*time.Minute), float64(l.Wait("x")), float64(time.Second))

	var off *Limiter = New(Rate{Events: -1}, DefaultFailures, 0, nil)
	assert.Nil(t, off)
	off.Add("x")
	assert.Zero(t, off.Wait("x"))
	assert.Zero(t, off.Len())
}

// TestLimiterIsBounded: many keys cannot grow the table past its bound;
// the key with the oldest event makes room, and keys whose buckets are
// full again go first.
func TestLimiterIsBounded(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(Rate{Events: 1, Per: time.Minute, Burst: 1}, Rate{}, 100, c.now)
	l.Add("busy")
	for i := range 10_000 {
		l.Add(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		if i%50 == 0 {
			l.Add("busy") // kept recent
		}
	}
	assert.Equal(t, 100, l.Len())
	assert.NotZero(t, l.Wait("busy"), "a key in use stays")
	assert.Zero(t, l.Wait("10.0.0.1"), "the oldest made room")

	c.t = c.t.Add(24 * time.Hour)
	l.Add("new")
	assert.Equal(t, 1, l.Len(), "keys whose buckets are full again are dropped")
}

func TestClientKey(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.0/8, 192.0.2.7 ,::1")
	require.NoError(t, err)
	for _, tt := range []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"peer", "198.51.100.4:5000", "", nil, "198.51.100.4"},
		{"a forwarded header from an untrusted peer is ignored", "198.51.100.4:5000", "203.0.113.9", trusted, "198.51.100.4"},
		{"no proxy trusted", "10.1.2.3:5000", "203.0.113.9", nil, "10.1.2.3"},
		{"a trusted proxy", "10.1.2.3:5000", "203.0.113.9", trusted, "203.0.113.9"},
		{"the client's own claim is skipped", "10.1.2.3:5000", "1.2.3.4, 203.0.113.9, 192.0.2.7", trusted, "203.0.113.9"},
		{"garbage after the client", "10.1.2.3:5000", "203.0.113.9, nonsense", trusted, "10.1.2.3"},
		{"only proxies", "10.1.2.3:5000", "10.9.9.9", trusted, "10.9.9.9"},
		{"IPv6 by /64", "[2001:db8:1:2:3:4:5:6]:443", "", nil, "2001:db8:1:2::/64"},
		{"IPv4 in IPv6", "[::ffff:198.51.100.4]:443", "", nil, "198.51.100.4"},
		{"no address", "pipe", "", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			assert.Equal(t, tt.want, ClientKey(r, tt.trusted))
		})
	}
	_, err = ParsePrefixes("10.0.0.0/33")
	assert.Error(t, err)
	_, err = ParsePrefixes("proxy.example.com")
	assert.Error(t, err)
}

func TestSeconds(t *testing.T) {
	for wait, want := range map[time.Duration]int{
		-time.Second: 1, 0: 1, 1: 1, time.Second: 1, time.Second + 1: 2, 5999 * time.Millisecond: 6, time.Hour: 3600,
	} {
		if got := Seconds(wait); got != want {
			t.Errorf("Seconds(%s) = %d, want %d", wait, got, want)
		}
	}
}
