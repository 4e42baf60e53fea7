// Package ratelimit counts events per key, such as failed sign-ins per
// client address or per account, and says how long a key that has had too
// many must wait. The API and the web form share it.
//
// Each key has a bucket of Rate.Burst events that refills at Rate.Events
// per Rate.Per (the generic cell rate algorithm: one time per key). A
// Limiter keeps at most a fixed number of keys: a key whose bucket is full
// again is dropped, and when the table is full the key with the oldest
// last event makes room, so that many addresses cannot grow it without
// bound. A Limiter is safe for concurrent use.
package ratelimit

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Rate is how many events a key may have: Burst at once, then Events per
// Per. The zero Rate means "use the default"; a negative Events turns the
// limit off.
type Rate struct {
	Events int
	Per    time.Duration
	Burst  int
}

// Defaults.
var (
	// DefaultFailures is the rate of failed sign-ins (web) and failed
	// authentications (API) per client address and per account: 20 at
	// once, then 10 a minute.
	DefaultFailures = Rate{Events: 10, Per: time.Minute, Burst: 20}
	// DefaultSignups is the rate of accounts created per client address
	// with open sign-up: 5 at once, then 5 an hour.
	DefaultSignups = Rate{Events: 5, Per: time.Hour, Burst: 5}
)

// DefaultMaxKeys is the most keys a Limiter keeps: about 2 MB.
const DefaultMaxKeys = 10000

// Limiter counts events per key. Make one with New; a nil *Limiter
// limits nothing.
type Limiter struct {
	interval time.Duration // one event regained per interval
	slack    time.Duration // (Burst-1) intervals
	maxKeys  int
	now      func() time.Time

	mu    sync.Mutex
	keys  map[string]*list.Element // of *entry
	order *list.List               // least recent event first
}

type entry struct {
	key string
	// due is when the key's bucket is full again: the theoretical arrival
	// time of the generic cell rate algorithm.
	due time.Time
}

// New returns a limiter of r (its zero fields taken from def), keeping at
// most maxKeys keys (DefaultMaxKeys when 0), reading the time from now
// (time.Now when nil). It returns nil, a limiter that limits nothing, when
// r.Events is negative.
func New(r, def Rate, maxKeys int, now func() time.Time) *Limiter {
	if r.Events < 0 {
		return nil
	}
	if r.Events == 0 {
		r.Events = def.Events
	}
	if r.Per <= 0 {
		r.Per = def.Per
	}
	if r.Burst <= 0 {
		r.Burst = max(def.Burst, 1)
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	interval := r.Per / time.Duration(r.Events)
	return &Limiter{
		interval: interval,
		slack:    time.Duration(r.Burst-1) * interval,
		maxKeys:  maxKeys,
		now:      now,
		keys:     make(map[string]*list.Element),
		order:    list.New(),
	}
}

// Seconds is a wait as a Retry-After header gives it: whole seconds,
// rounded up, at least 1.
func Seconds(wait time.Duration) int {
	return max(int((wait+time.Second-1)/time.Second), 1)
}

// Wait returns how long key must wait before its next event is allowed, 0
// when it is allowed now. It records nothing: call Add for the event.
func (l *Limiter) Wait(key string) time.Duration {
	if l == nil || key == "" {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.keys[key]
	if el == nil {
		return 0
	}
	return max(el.Value.(*entry).due.Sub(l.now())-l.slack, 0)
}

// Add records an event of key.
func (l *Limiter) Add(key string) {
	if l == nil || key == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if el := l.keys[key]; el != nil {
		e := el.Value.(*entry)
		e.due = later(e.due, now).Add(l.interval)
		l.order.MoveToBack(el)
		return
	}
	l.prune(now)
	if len(l.keys) >= l.maxKeys {
		l.remove(l.order.Front())
	}
	l.keys[key] = l.order.PushBack(&entry{key: key, due: now.Add(l.interval)})
}

// Len returns how many keys the limiter holds.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// prune drops the keys, least recent first, whose buckets are full again:
// they are as good as absent.
func (l *Limiter) prune(now time.Time) {
	for el := l.order.Front(); el != nil && !el.Value.(*entry).due.After(now); el = l.order.Front() {
		l.remove(el)
	}
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*entry).key)
	l.order.Remove(el)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ClientKey is the key of the client that sent r: its ClientAddr, where an
// IPv6 address stands for its /64, which one client usually holds whole.
// It is "" when there is no address to be read.
func ClientKey(r *http.Request, trusted []netip.Prefix) string {
	addr, ok := ClientAddr(r, trusted)
	if !ok {
		return ""
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// ClientAddr is the address of the client that sent r: the TCP peer's
// (r.RemoteAddr), or, when that peer is one of the trusted proxies, the
// last address of X-Forwarded-For that is not a trusted proxy. False when
// there is no address to be read.
func ClientAddr(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	addr = addr.Unmap()
	if isTrusted(addr, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // the rest was written by whoever sent it
			}
			addr = hop.Unmap()
			if !isTrusted(addr, trusted) {
				break
			}
		}
	}
	return addr, true
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ParsePrefixes reads a comma-separated list of addresses and CIDR
// prefixes, such as "10.0.0.0/8, 192.0.2.7". An address alone is a prefix
// of its full length.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
