package vecsearch

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// SizesTTL is how long a user found large stays known as such.
const SizesTTL = time.Minute

// maxSizes bounds the users remembered; past it, more are counted every
// time until entries expire.
const maxSizes = 100_000

// Sizes remembers, for SizesTTL, which users held more than ExactMaxRows
// rows of a model, so that their searches go straight to the index without
// the bounded read that decides (searchSQL): ExactMaxRows+1 heap pages and
// distances a search, a third of a large user's search time on a freshly
// loaded table. Only the plan depends on it: a user who has since shrunk
// below ExactMaxRows is answered by the index walk, which finds their rows
// more slowly, or runs out (hnsw.max_scan_tuples) with fewer than asked
// for, and then the user is forgotten and read again at the next search;
// one who has not been seen large is read as before. Safe for concurrent
// use; the zero value is not usable, and a nil *Sizes remembers nothing.
type Sizes struct {
	mu   sync.Mutex
	seen map[sizeKey]time.Time // when the user was last counted large
	now  func() time.Time
}

type sizeKey struct {
	table Table
	user  uuid.UUID
	model string
}

// NewSizes returns an empty memory of large users.
func NewSizes() *Sizes {
	return &Sizes{seen: make(map[sizeKey]time.Time), now: time.Now}
}

// large reports whether the user was counted large within SizesTTL.
func (s *Sizes) large(t Table, user uuid.UUID, model string) bool {
	if s == nil {
		return false
	}
	k := sizeKey{t, user, model}
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.seen[k]
	if ok && s.now().Sub(at) >= SizesTTL {
		delete(s.seen, k)
		return false
	}
	return ok
}

// note records a count's answer.
func (s *Sizes) note(t Table, user uuid.UUID, model string, large bool) {
	if s == nil {
		return
	}
	k := sizeKey{t, user, model}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !large {
		delete(s.seen, k)
		return
	}
	now := s.now()
	if len(s.seen) >= maxSizes {
		for k, at := range s.seen {
			if now.Sub(at) >= SizesTTL {
				delete(s.seen, k)
			}
		}
		if len(s.seen) >= maxSizes {
			return
		}
	}
	s.seen[k] = now
}
