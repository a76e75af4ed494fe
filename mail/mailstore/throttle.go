package mailstore

import (
	"sync"
	"time"
)

// LoginThrottle slows down repeated failed logins from one source (an IP
// address): after the n-th failure in a row the server waits Base·2^(n-1),
// at most Max, before it answers. A success, or Forget of quiet time,
// clears the count. IMAP and POP3 share one so that switching protocol
// does not reset it.
type LoginThrottle struct {
	Base, Max, Forget time.Duration
	Now               func() time.Time

	mu    sync.Mutex
	fails map[string]failCount
}

type failCount struct {
	n    int
	last time.Time
}

// NewLoginThrottle returns a throttle waiting base, 2·base, 4·base, ... up
// to max, forgetting a source 15 minutes after its last failure.
func NewLoginThrottle(base, max time.Duration) *LoginThrottle {
	return &LoginThrottle{Base: base, Max: max, Forget: 15 * time.Minute, Now: time.Now, fails: map[string]failCount{}}
}

// Failed records a failed login from source and returns how long to wait
// before answering it, and how many failures in a row source has.
func (t *LoginThrottle) Failed(source string) (time.Duration, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	for k, f := range t.fails { // bounded by the sources seen within Forget
		if now.Sub(f.last) > t.Forget {
			delete(t.fails, k)
		}
	}
	f := t.fails[source]
	f.n++
	f.last = now
	t.fails[source] = f
	d := t.Base
	for i := 1; i < f.n && d < t.Max; i++ {
		d *= 2
	}
	if d > t.Max {
		d = t.Max
	}
	return d, f.n
}

// Succeeded clears source's failures.
func (t *LoginThrottle) Succeeded(source string) {
	t.mu.Lock()
	delete(t.fails, source)
	t.mu.Unlock()
}
