package store

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordCache(t *testing.T) {
	c := newRecordCache[revisionRecord](64 * 100)
	raw := func(rev int, template string) []byte {
		return fmt.Appendf(nil, `{"revision":%d,"template":%q}`, rev, template)
	}

	got, err := c.decode("a", raw(1, "one"))
	require.NoError(t, err)
	assert.Equal(t, revisionRecord{Revision: 1, Template: "one"}, got)
	got, err = c.decode("a", raw(1, "one"))
	require.NoError(t, err)
	assert.Equal(t, revisionRecord{Revision: 1, Template: "one"}, got, "a hit")

	got, err = c.decode("a", raw(2, "two"))
	require.NoError(t, err)
	assert.Equal(t, revisionRecord{Revision: 2, Template: "two"}, got, "other bytes under the same key are decoded afresh")
	assert.Len(t, c.entries, 1)
	assert.Equal(t, len(raw(2, "two")), c.size)

	_, err = c.decode("bad", []byte("{"))
	assert.Error(t, err)
	assert.NotContains(t, c.entries, "bad", "an undecodable record is not kept")

	big := raw(3, strings.Repeat("x", 200))
	got, err = c.decode("big", big)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Revision)
	assert.NotContains(t, c.entries, "big", "a record above budget/64 is not kept")

	for i := range 500 {
		_, err := c.decode(fmt.Sprint(i), raw(i, "filler"))
		require.NoError(t, err)
		require.LessOrEqual(t, c.size, c.budget, "after %d records", i)
	}
	sum := 0
	for _, e := range c.entries {
		sum += len(e.raw)
	}
	assert.Equal(t, sum, c.size, "size accounts for every entry")
}

func TestRecordCacheConcurrent(t *testing.T) {
	c := newRecordCache[revisionRecord](1 << 10)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				rev := (g + i) % 5
				key := fmt.Sprint(i % 7)
				got, err := c.decode(key, fmt.Appendf(nil, `{"revision":%d}`, rev))
				if !assert.NoError(t, err) || !assert.Equal(t, rev, got.Revision) {
					return
				}
			}
		})
	}
	wg.Wait()
}
