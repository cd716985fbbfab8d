package telemetry

import (
	"sync"
	"sync/atomic"
)

// memo keeps what build derives from a key (a SQL text's span name and
// attributes, a Redis command's attribute sets), so that a hot path derives
// it once. It keeps at most max keys: the keys come from the code, but one
// built from data by mistake must not grow the map without end; past the
// cap values are still built, only not kept.
type memo[V any] struct {
	m     sync.Map // key → V
	n     atomic.Int64
	max   int64
	build func(string) V
}

func newMemo[V any](max int64, build func(string) V) *memo[V] {
	return &memo[V]{max: max, build: build}
}

func (c *memo[V]) get(key string) V { return c.getWith(key, c.build) }

// getWith is get with a build of the caller's, for a value that needs more
// than its key to be derived (it must depend on the key alone).
func (c *memo[V]) getWith(key string, build func(string) V) V {
	if v, ok := c.m.Load(key); ok {
		return v.(V)
	}
	v := build(key)
	if c.n.Load() >= c.max {
		return v
	}
	if kept, loaded := c.m.LoadOrStore(key, v); loaded {
		return kept.(V)
	}
	c.n.Add(1)
	return v
}
