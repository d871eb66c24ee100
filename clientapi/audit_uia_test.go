package clientapi_test

import (
	"strings"
	"testing"

	"ward/audit"
	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestUIAWrongPasswordAuditedAndLimited: a wrong password in
// User-Interactive Auth, given with a valid access token, is recorded as a
// failed attempt at the protected action (never the password) and counts
// against a rate limit like /login's: past the allowance the answer is 429
// M_LIMIT_EXCEEDED with retry_after_ms, whatever the endpoint. Correct
// passwords do not use up the allowance.
func TestUIAWrongPasswordAuditedAndLimited(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) {
			c.RateLimitPerSecond = 0.01
			c.RateLimitBurst = 3
		})
		alice := registerUser(t, ts, "alice")
		tok := alice.AccessToken
		const wrong = "not-alices-password-at-all"
		pw := func(password string) map[string]any {
			return map[string]any{"type": "m.login.password", "password": password,
				"identifier": map[string]any{"type": "m.id.user", "user": "alice"}}
		}
		// Correct passwords, more than the allowance: none is limited.
		for range 4 {
			st, body := call(t, ts, "POST", v3+"/delete_devices", tok,
				map[string]any{"devices": []string{"NOSUCHDEVICE"}, "auth": pw(testPassword)})
			wantOK(t, "delete_devices with the right password", st, body)
		}
		before := len(trail(t, ts))
		st, body := call(t, ts, "POST", v3+"/account/password", tok,
			map[string]any{"new_password": "another long passphrase", "auth": pw(wrong)})
		wantError(t, "wrong password 1", st, body, 401, "M_FORBIDDEN")
		for i := range 2 {
			st, body := call(t, ts, "DELETE", v3+"/devices/"+string(alice.DeviceID), tok, map[string]any{"auth": pw(wrong)})
			wantError(t, "wrong password "+string(rune('2'+i)), st, body, 401, "M_FORBIDDEN")
		}
		st, body = call(t, ts, "POST", v3+"/account/password", tok,
			map[string]any{"new_password": "another long passphrase", "auth": pw(wrong)})
		wantError(t, "fourth wrong password", st, body, 429, "M_LIMIT_EXCEEDED")
		if ms, ok := body["retry_after_ms"].(float64); !ok || ms <= 0 {
			t.Fatalf("429 without retry_after_ms: %v", body)
		}
		// Even the right password waits now.
		st, body = call(t, ts, "DELETE", v3+"/devices/"+string(alice.DeviceID), tok, map[string]any{"auth": pw(testPassword)})
		wantError(t, "right password while limited", st, body, 429, "M_LIMIT_EXCEEDED")

		after := trail(t, ts)[before:]
		wants := []string{audit.ActionPasswordChange, audit.ActionDeviceDelete, audit.ActionDeviceDelete}
		if len(after) != len(wants) {
			t.Fatalf("%d entries for 3 wrong passwords: %+v", len(after), after)
		}
		for i, action := range wants {
			e := after[i]
			if e.Action != action || e.Outcome != audit.Failed || e.Reason != "wrong password" ||
				e.ActorUser != string(alice.UserID) || e.ActorDevice != string(alice.DeviceID) || e.RemoteAddr == "" {
				t.Errorf("entry %d: %+v, want %s failed for wrong password", i, e, action)
			}
		}
		for _, e := range trail(t, ts) {
			if strings.Contains(e.Reason+strings.Join(mapValues(e.Detail), " "), wrong) {
				t.Fatalf("the password reached the trail: %+v", e)
			}
		}
		if rep := verify(t, ts, nil); !rep.OK {
			t.Fatal(rep)
		}
	})
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
