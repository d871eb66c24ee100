package stream

import (
	"fmt"
	"strings"
	"testing"
)

// TestPayloadsStayBelowTheLimit: a wake-up of many users is cut into
// notifications PostgreSQL accepts (a payload must be shorter than 8000
// bytes), each naming its sender, and together naming every user once.
func TestPayloadsStayBelowTheLimit(t *testing.T) {
	for _, n := range []int{0, 1, 2, 300, 5000} {
		var users []string
		for i := range n {
			users = append(users, fmt.Sprintf("@patient-%06d:clinic.example.org", i))
		}
		payloads := Payloads("0123456789abcdef", users)
		seen := map[string]int{}
		for _, p := range payloads {
			if len(p) >= 8000 {
				t.Errorf("%d users: a payload of %d bytes", n, len(p))
			}
			origin, rest, _ := strings.Cut(p, "\n")
			if origin != "0123456789abcdef" {
				t.Errorf("%d users: payload from %q", n, origin)
			}
			for _, u := range strings.Split(rest, "\n") {
				seen[u]++
			}
		}
		if len(seen) != n {
			t.Errorf("%d users: the payloads name %d", n, len(seen))
		}
		for u, c := range seen {
			if c != 1 {
				t.Errorf("%d users: %s named %d times", n, u, c)
			}
		}
		if n == 0 && len(payloads) != 0 {
			t.Errorf("no users: %d payloads", len(payloads))
		}
	}
}
