package clientapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// Spec: client-server-api "Account registration" (POST /register with the
// m.login.dummy stage of "User-interactive API in the REST API"),
// GET /register/available, and "Current account information" (whoami).
func TestRegisterOpen(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()

		// The first request without auth is the 401 that offers the flows,
		// also when it carries no username or password yet (Element Web's
		// probe when its sign-up screen opens).
		for _, first := range []map[string]any{
			{"username": "alice", "password": testPassword},
			{"initial_device_display_name": "Element"},
			{},
		} {
			st, body := call(t, ts, "POST", v3+"/register", "", first)
			if st != 401 || body["session"] == nil || body["flows"] == nil || body["params"] == nil || body["errcode"] != nil {
				t.Fatalf("register without auth (%v): %d %v", first, st, body)
			}
		}
		// The dummy stage needs no session (Synapse completes it in the
		// first request too), but finishing needs a password.
		st, body := call(t, ts, "POST", v3+"/register", "", map[string]any{"username": "dora",
			"auth": map[string]any{"type": "m.login.dummy"}})
		wantError(t, "dummy stage without a password", st, body, 400, "M_MISSING_PARAM")
		st, body = call(t, ts, "POST", v3+"/register", "", map[string]any{"username": "dora", "password": testPassword,
			"auth": map[string]any{"type": "m.login.dummy"}})
		if st != 200 || body["user_id"] != "@dora:ward.test" || body["access_token"] == nil {
			t.Fatalf("dummy stage without a session: %d %v", st, body)
		}
		st, body = call(t, ts, "POST", v3+"/register", "", map[string]any{"username": "dora2", "password": testPassword,
			"auth": map[string]any{"type": "m.login.dummy", "session": "not-a-session"}})
		if st != 401 || body["flows"] == nil {
			t.Fatalf("dummy stage with an unknown session: %d %v, want 401 and a new session", st, body)
		}

		alice := registerUser(t, ts, "alice")
		if alice.UserID != "@alice:ward.test" || alice.AccessToken == "" || alice.DeviceID == "" {
			t.Fatalf("register: %s %s", alice.UserID, alice.DeviceID)
		}
		who, err := alice.Whoami(ctx)
		if err != nil || who.UserID != alice.UserID || who.DeviceID != alice.DeviceID {
			t.Fatalf("whoami: %+v %v", who, err)
		}
		// r0 answers like v3.
		st, body = call(t, ts, "GET", "/_matrix/client/r0/account/whoami", alice.AccessToken, nil)
		if st != 200 || body["user_id"] != "@alice:ward.test" || body["is_guest"] != false {
			t.Fatalf("r0 whoami: %d %v", st, body)
		}

		_, err = anonClient(t, ts).RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: "alice", Password: testPassword})
		if !errors.Is(err, mautrix.MUserInUse) {
			t.Fatalf("second alice: %v", err)
		}
		st, body = call(t, ts, "POST", v3+"/register", "", map[string]any{"username": "Bad Name", "password": testPassword})
		wantError(t, "invalid username", st, body, 400, "M_INVALID_USERNAME")

		// Guests are never allowed.
		st, body = call(t, ts, "POST", v3+"/register?kind=guest", "", map[string]any{})
		wantError(t, "guest", st, body, 403, "M_FORBIDDEN")

		// inhibit_login: an account but no session.
		cli := anonClient(t, ts)
		resp, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: "bob", Password: testPassword, InhibitLogin: true})
		if err != nil || resp.UserID != "@bob:ward.test" || resp.AccessToken != "" || resp.DeviceID != "" {
			t.Fatalf("inhibit_login: %+v %v", resp, err)
		}

		avail, err := cli.RegisterAvailable(ctx, "carol")
		if err != nil || !avail.Available {
			t.Fatalf("carol available: %+v %v", avail, err)
		}
		st, body = call(t, ts, "GET", v3+"/register/available?username=bob", "", nil)
		wantError(t, "bob available", st, body, 400, "M_USER_IN_USE")
		st, body = call(t, ts, "GET", v3+"/register/available?username=B%21", "", nil)
		wantError(t, "invalid available", st, body, 400, "M_INVALID_USERNAME")
	})
}

// Spec: client-server-api POST /register: a server may refuse registration
// (403 M_FORBIDDEN); Ward's default is closed.
func TestRegisterClosed(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Registration = config.Defaults().Registration })
		st, body := call(t, ts, "POST", v3+"/register", "", map[string]any{"username": "alice", "password": testPassword})
		wantError(t, "closed registration", st, body, 403, "M_FORBIDDEN")
	})
}

func sharedSecretMAC(secret, nonce, user, password string, admin bool) string {
	m := hmac.New(sha1.New, []byte(secret))
	role := "notadmin"
	if admin {
		role = "admin"
	}
	m.Write([]byte(nonce + "\x00" + user + "\x00" + password + "\x00" + role))
	return hex.EncodeToString(m.Sum(nil))
}

// Synapse admin API "Shared-Secret Registration" (GET/POST
// /_synapse/admin/v1/register): HMAC-SHA1, single-use nonces.
func TestSharedSecretRegistration(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		const path = "/_synapse/admin/v1/register"
		secret := ts.Config.RegistrationSharedSecret
		nonce := func() string {
			st, body := call(t, ts, "GET", path, "", nil)
			n, _ := body["nonce"].(string)
			if st != 200 || n == "" {
				t.Fatalf("nonce: %d %v", st, body)
			}
			return n
		}
		n := nonce()
		req := map[string]any{"nonce": n, "username": "admin1", "password": testPassword, "admin": true,
			"mac": sharedSecretMAC(secret, n, "admin1", testPassword, true)}
		st, body := call(t, ts, "POST", path, "", req)
		wantOK(t, "good mac", st, body)
		tok, _ := body["access_token"].(string)
		if body["user_id"] != "@admin1:ward.test" || tok == "" {
			t.Fatalf("shared-secret answer: %v", body)
		}
		st, body = call(t, ts, "GET", v3+"/account/whoami", tok, nil)
		if st != 200 || body["user_id"] != "@admin1:ward.test" {
			t.Fatalf("whoami after shared-secret registration: %d %v", st, body)
		}

		// The same nonce again: refused even with a correct MAC.
		req["username"] = "admin2"
		req["mac"] = sharedSecretMAC(secret, n, "admin2", testPassword, true)
		st, body = call(t, ts, "POST", path, "", req)
		wantError(t, "reused nonce", st, body, 400, "M_UNKNOWN")

		// A wrong MAC, and then its nonce is spent too.
		n = nonce()
		req = map[string]any{"nonce": n, "username": "admin2", "password": testPassword, "admin": false,
			"mac": sharedSecretMAC("wrong secret", n, "admin2", testPassword, false)}
		st, body = call(t, ts, "POST", path, "", req)
		wantError(t, "bad mac", st, body, 403, "M_FORBIDDEN")
		// admin flag not matching the MAC.
		n = nonce()
		req = map[string]any{"nonce": n, "username": "admin2", "password": testPassword, "admin": true,
			"mac": sharedSecretMAC(secret, n, "admin2", testPassword, false)}
		st, body = call(t, ts, "POST", path, "", req)
		wantError(t, "admin flag outside the mac", st, body, 403, "M_FORBIDDEN")
		st, body = call(t, ts, "POST", path, "", map[string]any{"username": "x"})
		wantError(t, "no nonce", st, body, 400, "M_BAD_JSON")
	})
}

// Synapse admin API "Shared-Secret Registration": refused when no secret
// is configured.
func TestSharedSecretRegistrationOff(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.RegistrationSharedSecret = "" })
		st, body := call(t, ts, "GET", "/_synapse/admin/v1/register", "", nil)
		wantError(t, "no secret", st, body, 400, "M_UNKNOWN")
	})
}

// Spec: client-server-api "Login" (GET/POST /login, identifier m.id.user
// with a localpart or a full user ID, and the legacy top-level user field;
// 403 M_FORBIDDEN for a wrong password).
func TestLogin(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		registerUser(t, ts, "alice")

		flows, err := anonClient(t, ts).GetLoginFlows(ctx)
		if err != nil || !flows.HasFlow(mautrix.AuthTypePassword) {
			t.Fatalf("login flows: %+v %v", flows, err)
		}
		byLocalpart := login(t, ts, "alice", testPassword)
		byFullID := login(t, ts, "@alice:ward.test", testPassword)
		if byLocalpart.UserID != "@alice:ward.test" || byFullID.DeviceID == byLocalpart.DeviceID {
			t.Fatalf("logins: %s/%s %s/%s", byLocalpart.UserID, byLocalpart.DeviceID, byFullID.UserID, byFullID.DeviceID)
		}

		st, body := call(t, ts, "POST", v3+"/login", "", map[string]any{
			"type": "m.login.password", "user": "alice", "password": testPassword,
			"device_id": "LEGACYDEV", "initial_device_display_name": "Old phone"})
		wantOK(t, "legacy user field", st, body)
		if body["device_id"] != "LEGACYDEV" || body["user_id"] != "@alice:ward.test" {
			t.Fatalf("legacy login: %v", body)
		}
		firstToken := body["access_token"].(string)

		// Logging in again with the same device_id replaces its tokens.
		st, body = call(t, ts, "POST", v3+"/login", "", map[string]any{
			"type": "m.login.password", "user": "alice", "password": testPassword, "device_id": "LEGACYDEV"})
		wantOK(t, "same device again", st, body)
		secondToken, _ := body["access_token"].(string)
		st, body = call(t, ts, "GET", v3+"/account/whoami", firstToken, nil)
		wantError(t, "replaced token", st, body, 401, "M_UNKNOWN_TOKEN")
		st, body = call(t, ts, "GET", v3+"/devices/LEGACYDEV", secondToken, nil)
		if st != 200 || body["display_name"] != "Old phone" {
			t.Fatalf("device kept across logins: %d %v", st, body)
		}

		st, body = call(t, ts, "POST", v3+"/login", "", map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": "wrong"})
		wantError(t, "wrong password", st, body, 403, "M_FORBIDDEN")
		st, body = call(t, ts, "POST", v3+"/login", "", map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "nobody"}, "password": "x"})
		wantError(t, "unknown user", st, body, 403, "M_FORBIDDEN")
		st, body = call(t, ts, "POST", v3+"/login", "", map[string]any{"type": "m.login.token", "token": "x"})
		wantError(t, "unsupported type", st, body, 400, "M_UNKNOWN")
		st, body = call(t, ts, "POST", v3+"/login", "", "{not json")
		wantError(t, "not json", st, body, 400, "M_NOT_JSON")
		st, body = call(t, ts, "POST", v3+"/login", "", `{"type": 5}`)
		wantError(t, "bad json", st, body, 400, "M_BAD_JSON")
		st, body = call(t, ts, "GET", v3+"/account/whoami", "", nil)
		wantError(t, "no token", st, body, 401, "M_MISSING_TOKEN")
	})
}

// Spec: client-server-api POST /logout and POST /logout/all: the tokens
// (and devices) stop working.
func TestLogout(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		second := login(t, ts, "alice", testPassword)
		third := login(t, ts, "alice", testPassword)

		if _, err := second.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := second.Whoami(ctx); !errors.Is(err, mautrix.MUnknownToken) {
			t.Fatalf("after logout: %v", err)
		}
		devs, err := alice.GetDevicesInfo(ctx)
		if err != nil || len(devs.Devices) != 2 {
			t.Fatalf("devices after logout: %+v %v", devs, err)
		}
		if _, err := third.LogoutAll(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*mautrix.Client{alice, third} {
			st, body := call(t, ts, "GET", v3+"/account/whoami", c.AccessToken, nil)
			wantError(t, "after logout/all", st, body, 401, "M_UNKNOWN_TOKEN")
			if body["soft_logout"] == true {
				t.Fatalf("logout is not a soft logout: %v", body)
			}
		}
	})
}

// Spec: client-server-api "Refreshing access tokens" and "Soft logout":
// expires_in_ms, POST /refresh, the old refresh token valid until the new
// pair is used, and an expired token is M_UNKNOWN_TOKEN with soft_logout.
func TestRefreshTokens(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.AccessTokenLifetime = time.Minute })
		registerUser(t, ts, "alice")
		st, body := call(t, ts, "POST", v3+"/login", "", map[string]any{
			"type": "m.login.password", "user": "alice", "password": testPassword, "refresh_token": true})
		wantOK(t, "login with refresh", st, body)
		rt1, _ := body["refresh_token"].(string)
		at1, _ := body["access_token"].(string)
		if rt1 == "" || body["expires_in_ms"] != float64(60000) {
			t.Fatalf("login with refresh_token: %v", body)
		}

		st, body = call(t, ts, "POST", v3+"/refresh", "", map[string]any{"refresh_token": rt1})
		wantOK(t, "refresh", st, body)
		at2, rt2 := body["access_token"].(string), body["refresh_token"].(string)
		if at2 == at1 || rt2 == rt1 || body["expires_in_ms"] != float64(60000) {
			t.Fatalf("refresh: %v", body)
		}
		// The answer may have been lost: rt1 works again until the new pair is used.
		st, body = call(t, ts, "POST", v3+"/refresh", "", map[string]any{"refresh_token": rt1})
		wantOK(t, "refresh repeated", st, body)
		at3, rt3 := body["access_token"].(string), body["refresh_token"].(string)
		st, body = call(t, ts, "GET", v3+"/account/whoami", at3, nil)
		wantOK(t, "new access token", st, body)
		// Now rt1 is spent.
		st, body = call(t, ts, "POST", v3+"/refresh", "", map[string]any{"refresh_token": rt1})
		wantError(t, "spent refresh token", st, body, 401, "M_UNKNOWN_TOKEN")
		_ = at2
		_ = rt2
		// Using rt3 spends nothing else and works.
		st, body = call(t, ts, "POST", v3+"/refresh", "", map[string]any{"refresh_token": rt3})
		wantOK(t, "refresh with rt3", st, body)
		st, body = call(t, ts, "POST", v3+"/refresh", "", map[string]any{"refresh_token": "syr_nonsense"})
		wantError(t, "unknown refresh token", st, body, 401, "M_UNKNOWN_TOKEN")
	})
}

// Spec: client-server-api "Refreshing access tokens" and "Soft logout": an
// expired access token is 401 M_UNKNOWN_TOKEN with soft_logout: true, and
// the refresh token still gets a new one.
func TestAccessTokenExpiry(t *testing.T) {
	// Each test calls dbtest.ForEach once: a second call names its SQLite
	// subtest "sqlite#01", and the '#' ends the SQLite file URI early.
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.AccessTokenLifetime = 300 * time.Millisecond })
		resp, err := anonClient(t, ts).RegisterDummy(context.Background(),
			&mautrix.ReqRegister[any]{Username: "bob", Password: testPassword, RefreshToken: true})
		if err != nil || resp.RefreshToken == "" || resp.ExpiresInMS != 300 {
			t.Fatalf("register with refresh_token: %+v %v", resp, err)
		}
		// A session without refresh support never expires.
		plain := login(t, ts, "bob", testPassword)
		time.Sleep(400 * time.Millisecond)
		st, body := call(t, ts, "GET", v3+"/account/whoami", resp.AccessToken, nil)
		wantError(t, "expired token", st, body, 401, "M_UNKNOWN_TOKEN")
		if body["soft_logout"] != true {
			t.Fatalf("expired token without soft_logout: %v", body)
		}
		st, body = call(t, ts, "GET", v3+"/account/whoami", plain.AccessToken, nil)
		wantOK(t, "token without refresh", st, body)
		st, body = call(t, ts, "POST", v3+"/refresh", "", map[string]any{"refresh_token": resp.RefreshToken})
		wantOK(t, "refresh after expiry", st, body)
		st, body = call(t, ts, "GET", v3+"/account/whoami", body["access_token"].(string), nil)
		wantOK(t, "refreshed token", st, body)
	})
}

// Spec: client-server-api "Rate limiting": 429 M_LIMIT_EXCEEDED with
// retry_after_ms.
func TestLoginRateLimit(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) {
			c.RateLimitPerSecond = 0.01
			c.RateLimitBurst = 2
		})
		req := map[string]any{"type": "m.login.password", "user": "nobody", "password": "x"}
		for i := range 2 {
			st, body := call(t, ts, "POST", v3+"/login", "", req)
			wantError(t, "attempt "+string(rune('1'+i)), st, body, 403, "M_FORBIDDEN")
		}
		st, body := call(t, ts, "POST", v3+"/login", "", req)
		wantError(t, "third attempt", st, body, 429, "M_LIMIT_EXCEEDED")
		if ms, ok := body["retry_after_ms"].(float64); !ok || ms <= 0 {
			t.Fatalf("429 without retry_after_ms: %v", body)
		}
		st, body = call(t, ts, "POST", v3+"/register", "", map[string]any{})
		wantError(t, "register while limited", st, body, 429, "M_LIMIT_EXCEEDED")
	})
}

// Tokens and passwords are kept only hashed (argon2id for passwords,
// SHA-256 for tokens): a database dump gives nobody a session.
func TestTokensStoredHashed(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		registerUser(t, ts, "alice")
		st, body := call(t, ts, "POST", v3+"/login", "", map[string]any{
			"type": "m.login.password", "user": "alice", "password": testPassword, "refresh_token": true})
		wantOK(t, "login", st, body)
		secrets := []string{body["access_token"].(string), body["refresh_token"].(string), testPassword}
		ctx := context.Background()
		var dump strings.Builder
		for _, q := range []string{
			`SELECT token_hash || refresh_hash || prev_refresh_hash FROM access_tokens`,
			`SELECT token_hash || prev_refresh_hash FROM refresh_tokens`,
			`SELECT password_hash FROM users`,
		} {
			rows, err := ts.Server.DB.Read.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				dump.WriteString(s + "\n")
			}
			rows.Close()
		}
		for _, s := range secrets {
			if strings.Contains(dump.String(), s) {
				t.Fatalf("a secret is stored in the clear")
			}
		}
		if !strings.Contains(dump.String(), "$argon2id$v=19$") {
			t.Fatalf("password not hashed with argon2id")
		}
		// A token is the 'syt_' prefix and 32 random bytes in base64url.
		if tok := secrets[0]; !strings.HasPrefix(tok, "syt_") || len(tok) != 4+43 {
			t.Fatalf("access token shape: %d bytes", len(tok))
		}
		_ = url.Values{}
		_ = http.StatusOK
	})
}
