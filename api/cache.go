package api

import (
	"sync"
	"sync/atomic"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// compiled is a bin's template at one revision, ready to render.
type compiled struct {
	revision int
	tmpl     *engine.Template
	policy   engine.Policy
	vars     varSet // the parameters tmpl reads
}

func newCompiled(revision int, t *engine.Template, p engine.Policy) *compiled {
	return &compiled{revision: revision, tmpl: t, policy: p, vars: newVarSet(t.Variables())}
}

// templateCache keeps compiled templates by bin SID, each tagged with the
// revision it was compiled from: a lookup for another revision is a miss,
// so an update never serves the old template, whoever made it. It holds at
// most max entries; adding one to a full cache drops another, chosen at
// random (sync.Map ranges from a random point), which needs no bookkeeping
// on the read path.
type templateCache struct {
	max     int64
	size    atomic.Int64
	entries sync.Map // bin SID → *compiled
	metrics *metrics
}

func newTemplateCache(max int, m *metrics) *templateCache {
	return &templateCache{max: int64(max), metrics: m}
}

// get returns the compiled template of b's current revision, compiling it
// and keeping it on a miss. It returns the engine's error when the template
// no longer compiles.
func (tc *templateCache) get(b store.Bin) (*compiled, error) {
	if e := tc.lookup(b); e != nil {
		tc.metrics.cacheHits.Inc()
		return e, nil
	}
	tc.metrics.cacheMisses.Inc()
	e, err := compileBin(b)
	if err != nil {
		return nil, err
	}
	tc.add(b.SID, e)
	return e, nil
}

// peek is get without keeping what it compiles: management reads that walk
// many bins must not push out the templates being served.
func (tc *templateCache) peek(b store.Bin) (*compiled, error) {
	if e := tc.lookup(b); e != nil {
		return e, nil
	}
	return compileBin(b)
}

// put keeps a template the API has just compiled for a bin it saved.
func (tc *templateCache) put(b store.Bin, t *engine.Template) {
	p, err := engine.ParsePolicy(b.RenderPolicy)
	if err != nil {
		tc.remove(b.SID)
		return
	}
	tc.add(b.SID, newCompiled(b.Revision, t, p))
}

// remove forgets a bin's template.
func (tc *templateCache) remove(sid string) {
	if _, loaded := tc.entries.LoadAndDelete(sid); loaded {
		tc.size.Add(-1)
	}
}

func (tc *templateCache) lookup(b store.Bin) *compiled {
	if v, ok := tc.entries.Load(b.SID); ok {
		if e := v.(*compiled); e.revision == b.Revision {
			return e
		}
	}
	return nil
}

func (tc *templateCache) add(sid string, e *compiled) {
	if _, loaded := tc.entries.Swap(sid, e); loaded {
		return
	}
	if tc.size.Add(1) <= tc.max {
		return
	}
	tc.entries.Range(func(k, _ any) bool {
		if k == sid {
			return true
		}
		if _, loaded := tc.entries.LoadAndDelete(k); loaded {
			tc.size.Add(-1)
			return false
		}
		return true
	})
}

// compileBin compiles a bin's template with its policy.
func compileBin(b store.Bin) (*compiled, error) {
	p, err := engine.ParsePolicy(b.RenderPolicy)
	if err != nil {
		return nil, err
	}
	t, err := engine.Compile(b.Template)
	if err != nil {
		return nil, err
	}
	return newCompiled(b.Revision, t, p), nil
}
