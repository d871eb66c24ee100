package accounts

import (
	"strings"
	"testing"
	"time"
)

// Passwords are argon2id PHC strings, compared in constant time; a
// malformed stored hash is an error, never a match.
func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "s3cret") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := hashPassword("s3cret")
	if h == h2 {
		t.Fatal("two hashes of one password share a salt")
	}
	for _, tc := range []struct {
		hash, password string
		ok, bad        bool
	}{
		{h, "s3cret", true, false},
		{h, "s3cret ", false, false},
		{h, "", false, false},
		{"", "s3cret", false, true},
		{"$argon2i$v=19$m=19456,t=2,p=1$AAAA$AAAA", "s3cret", false, true},
		{"$argon2id$v=19$m=x,t=2,p=1$AAAA$AAAA", "s3cret", false, true},
		{"$argon2id$v=19$m=19456,t=2,p=1$!!$AAAA", "s3cret", false, true},
		{"$argon2id$v=19$m=19456,t=2,p=1$AAAA$", "s3cret", false, true},
	} {
		ok, err := checkPassword(tc.hash, tc.password)
		if ok != tc.ok || (err != nil) != tc.bad {
			t.Errorf("checkPassword(%q, %q) = %v, %v", tc.hash, tc.password, ok, err)
		}
	}
}

// Spec: client-server-api "Rate limiting": a burst, then one attempt per
// 1/rate seconds, with the wait to tell the client.
func TestRateLimiter(t *testing.T) {
	l := newRateLimiter(2, 3)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if _, ok := l.take("a", now); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	wait, ok := l.take("a", now)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("over the burst: %v %v", wait, ok)
	}
	if _, ok := l.take("b", now); !ok {
		t.Fatal("another address is limited too")
	}
	if _, ok := l.take("a", now.Add(wait)); !ok {
		t.Fatal("still limited after the announced wait")
	}
	if _, ok := newRateLimiter(0, 0).take("a", now); !ok {
		t.Fatal("a zero rate turns limiting off")
	}
}

// Spec: client-server-api "Filtering" (POST /user/{userId}/filter body).
func TestCheckFilter(t *testing.T) {
	for _, tc := range []struct {
		filter string
		ok     bool
	}{
		{`{}`, true},
		{`{"event_fields":["type","content.body"],"event_format":"client"}`, true},
		{`{"room":{"timeline":{"limit":10,"types":["m.room.message"],"lazy_load_members":true},"include_leave":false}}`, true},
		{`{"presence":{"not_types":["*"]},"account_data":{"limit":0},"x.unknown":{"any":1}}`, true},
		{`[]`, false},
		{`"filter"`, false},
		{`null`, false},
		{`{"event_fields":"type"}`, false},
		{`{"event_format":"xml"}`, false},
		{`{"room":{"timeline":{"limit":"10"}}}`, false},
		{`{"room":{"rooms":[1]}}`, false},
		{`{"room":{"state":{"lazy_load_members":"yes"}}}`, false},
		{`{"presence":[]}`, false},
		{`{"room":{"timeline":{"limit":-10}}}`, false},
		{`{"presence":{"limit":-1}}`, false},
		{`{"room":{"account_data":{"limit":-1}}}`, false},
		{`{"room":{"rooms":["!a:b"],"timeline":{"types":["x\ud800"]}}}`, false},
	} {
		if err := CheckFilter([]byte(tc.filter)); (err == nil) != tc.ok {
			t.Errorf("CheckFilter(%s) = %v", tc.filter, err)
		}
	}
}
