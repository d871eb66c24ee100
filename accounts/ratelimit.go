package accounts

import (
	"math"
	"strconv"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// rateLimiter is a token bucket per remote address for login and
// registration. It lives in memory on purpose: losing it on restart only
// forgives a few attempts, and every instance limiting on its own is still
// a limit.
type rateLimiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the memory a flood of addresses can take; past it,
// full buckets (addresses quiet long enough to be forgiven) are dropped.
const maxBuckets = 100_000

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	return &rateLimiter{rate: perSecond, burst: float64(burst), buckets: make(map[string]*bucket)}
}

// take spends one token of addr's bucket, or says how long to wait.
func (l *rateLimiter) take(addr string, now time.Time) (time.Duration, bool) {
	if l.rate <= 0 || l.burst < 1 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[addr]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[addr] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return wait, false
}

// refund gives back a token spent by take, for an attempt that turned out
// not to count (a correct password).
func (l *rateLimiter) refund(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[addr]; ok {
		b.tokens = math.Min(l.burst, b.tokens+1)
	}
}

func (l *rateLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// CheckRateLimit spends one attempt of remoteAddr's login/registration
// allowance, or returns 429 M_LIMIT_EXCEEDED with retry_after_ms.
//
// Spec: client-server-api "Rate limiting".
func (s *Service) CheckRateLimit(remoteAddr string) error {
	wait, ok := s.limiter.take(remoteAddr, s.now())
	if ok {
		return nil
	}
	return limitExceeded(wait)
}

// limitExceeded is the 429 answer telling the client to wait.
func limitExceeded(wait time.Duration) error {
	ms := wait.Milliseconds() + 1
	return mautrix.MLimitExceeded.WithMessage("Too many requests").WithExtraField("retry_after_ms", ms).
		WithExtraHeader("Retry-After", formatSeconds(wait))
}

func formatSeconds(d time.Duration) string {
	secs := int64(math.Ceil(d.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return strconv.FormatInt(secs, 10)
}

// takeUIAPassword spends one password attempt of User-Interactive Auth
// from the remote address's and the user's allowances, or returns 429
// M_LIMIT_EXCEEDED. The attempt is taken before the password is checked,
// so that concurrent guesses cannot overrun the limit; a correct password
// gives it back (refundUIAPassword).
func (s *Service) takeUIAPassword(remoteAddr string, user id.UserID) error {
	now := s.now()
	if remoteAddr != "" {
		if wait, ok := s.uiaLimiter.take("addr:"+remoteAddr, now); !ok {
			return limitExceeded(wait)
		}
	}
	if wait, ok := s.uiaLimiter.take("user:"+string(user), now); !ok {
		if remoteAddr != "" {
			s.uiaLimiter.refund("addr:" + remoteAddr)
		}
		return limitExceeded(wait)
	}
	return nil
}

func (s *Service) refundUIAPassword(remoteAddr string, user id.UserID) {
	if remoteAddr != "" {
		s.uiaLimiter.refund("addr:" + remoteAddr)
	}
	s.uiaLimiter.refund("user:" + string(user))
}
