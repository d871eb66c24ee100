package clientapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

func passwordAuth(session, user, password string) map[string]any {
	return map[string]any{"type": "m.login.password", "session": session, "password": password,
		"identifier": map[string]any{"type": "m.id.user", "user": user}}
}

// uiaSession makes the first, auth-less request and checks the 401 that
// offers m.login.password.
func uiaSession(t *testing.T, ts *servertest.TS, method, path, token string, body map[string]any) string {
	t.Helper()
	st, resp := call(t, ts, method, path, token, body)
	sid, _ := resp["session"].(string)
	flows, _ := json.Marshal(resp["flows"])
	if st != 401 || sid == "" || string(flows) != `[{"stages":["m.login.password"]}]` || resp["errcode"] != nil {
		t.Fatalf("%s %s without auth: %d %v", method, path, st, resp)
	}
	return sid
}

// Spec: client-server-api "Password management" (POST /account/password
// with User-Interactive Auth, logout_devices) and "Password-based" auth.
func TestChangePassword(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		other := login(t, ts, "alice", testPassword)
		const path = v3 + "/account/password"

		sid := uiaSession(t, ts, "POST", path, alice.AccessToken, map[string]any{"new_password": "second password"})
		st, body := call(t, ts, "POST", path, alice.AccessToken, map[string]any{
			"new_password": "second password", "auth": passwordAuth(sid, "alice", "wrong")})
		if st != 401 || body["errcode"] != "M_FORBIDDEN" || body["flows"] == nil {
			t.Fatalf("wrong password: %d %v", st, body)
		}
		st, body = call(t, ts, "POST", path, alice.AccessToken, map[string]any{
			"new_password": "second password", "auth": passwordAuth(sid, "@alice:ward.test", testPassword)})
		wantOK(t, "change password", st, body)

		// Other devices are logged out, this one stays.
		st, body = call(t, ts, "GET", v3+"/account/whoami", other.AccessToken, nil)
		wantError(t, "other device", st, body, 401, "M_UNKNOWN_TOKEN")
		st, body = call(t, ts, "GET", v3+"/account/whoami", alice.AccessToken, nil)
		wantOK(t, "this device", st, body)
		st, body = call(t, ts, "POST", v3+"/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": testPassword})
		wantError(t, "old password", st, body, 403, "M_FORBIDDEN")
		third := login(t, ts, "alice", "second password")

		// logout_devices: false keeps the others.
		st, body = call(t, ts, "POST", path, alice.AccessToken, map[string]any{
			"new_password": "third password", "logout_devices": false, "auth": passwordAuth("", "alice", "second password")})
		wantOK(t, "change password keeping devices", st, body)
		st, body = call(t, ts, "GET", v3+"/account/whoami", third.AccessToken, nil)
		wantOK(t, "kept device", st, body)
	})
}

// Spec: client-server-api "Account deactivation" (POST /account/deactivate
// with User-Interactive Auth): tokens end, login is M_USER_DEACTIVATED,
// the user ID is never reused.
func TestDeactivate(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		other := login(t, ts, "alice", testPassword)
		const path = v3 + "/account/deactivate"
		sid := uiaSession(t, ts, "POST", path, alice.AccessToken, map[string]any{})
		st, body := call(t, ts, "POST", path, alice.AccessToken, map[string]any{"auth": passwordAuth(sid, "alice", "nope")})
		if st != 401 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("wrong password: %d %v", st, body)
		}
		st, body = call(t, ts, "POST", path, alice.AccessToken, map[string]any{"auth": passwordAuth(sid, "alice", testPassword)})
		wantOK(t, "deactivate", st, body)
		if body["id_server_unbind_result"] != "no-support" {
			t.Fatalf("deactivate answer: %v", body)
		}
		for _, c := range []*mautrix.Client{alice, other} {
			st, body = call(t, ts, "GET", v3+"/account/whoami", c.AccessToken, nil)
			wantError(t, "token after deactivation", st, body, 401, "M_UNKNOWN_TOKEN")
		}
		st, body = call(t, ts, "POST", v3+"/login", "", map[string]any{"type": "m.login.password", "user": "alice", "password": testPassword})
		if st != 403 || (body["errcode"] != "M_USER_DEACTIVATED" && body["errcode"] != "M_FORBIDDEN") {
			t.Fatalf("login after deactivation: %d %v", st, body)
		}
		_, err := anonClient(t, ts).RegisterDummy(context.Background(), &mautrix.ReqRegister[any]{Username: "alice", Password: testPassword})
		if !errors.Is(err, mautrix.MUserInUse) {
			t.Fatalf("reusing a deactivated user ID: %v", err)
		}
		var n int
		if err := ts.Server.DB.Read.QueryRow(`SELECT COUNT(*) FROM users WHERE user_id = '@alice:ward.test'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("account row: %d %v", n, err)
		}
	})
}

// Spec: client-server-api "Device management": GET /devices,
// GET/PUT/DELETE /devices/{deviceId} (DELETE with User-Interactive Auth),
// POST /delete_devices; a deleted device's tokens stop working.
func TestDevices(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		second := login(t, ts, "alice", testPassword)
		third := login(t, ts, "alice", testPassword)
		bob := registerUser(t, ts, "bob")

		devs, err := alice.GetDevicesInfo(ctx)
		if err != nil || len(devs.Devices) != 3 {
			t.Fatalf("devices: %+v %v", devs, err)
		}
		// last_seen_* is written when a token is used.
		d, err := alice.GetDeviceInfo(ctx, alice.DeviceID)
		if err != nil || d.LastSeenIP != "127.0.0.1" || d.LastSeenTS == 0 {
			t.Fatalf("device: %+v %v", d, err)
		}
		if err := alice.SetDeviceInfo(ctx, second.DeviceID, &mautrix.ReqDeviceInfo{DisplayName: "Ward laptop"}); err != nil {
			t.Fatal(err)
		}
		d, err = alice.GetDeviceInfo(ctx, second.DeviceID)
		if err != nil || d.DisplayName != "Ward laptop" {
			t.Fatalf("renamed device: %+v %v", d, err)
		}
		st, body := call(t, ts, "GET", v3+"/devices/NOSUCHDEV", alice.AccessToken, nil)
		wantError(t, "unknown device", st, body, 404, "M_NOT_FOUND")
		st, body = call(t, ts, "GET", v3+"/devices/"+string(bob.DeviceID), alice.AccessToken, nil)
		wantError(t, "another user's device", st, body, 404, "M_NOT_FOUND")
		st, body = call(t, ts, "PUT", v3+"/devices/NOSUCHDEV", alice.AccessToken, map[string]any{"display_name": "x"})
		wantError(t, "rename unknown device", st, body, 404, "M_NOT_FOUND")

		path := v3 + "/devices/" + string(second.DeviceID)
		sid := uiaSession(t, ts, "DELETE", path, alice.AccessToken, map[string]any{})
		st, body = call(t, ts, "DELETE", path, alice.AccessToken, map[string]any{"auth": passwordAuth(sid, "alice", "wrong")})
		if st != 401 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("delete with a wrong password: %d %v", st, body)
		}
		// Proving to be someone else does not count.
		st, body = call(t, ts, "DELETE", path, alice.AccessToken, map[string]any{"auth": passwordAuth(sid, "bob", testPassword)})
		if st != 401 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("delete with bob's password: %d %v", st, body)
		}
		err = alice.DeleteDevice(ctx, second.DeviceID, &mautrix.ReqDeleteDevice[any]{Auth: passwordAuth(sid, "alice", testPassword)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := second.Whoami(ctx); !errors.Is(err, mautrix.MUnknownToken) {
			t.Fatalf("deleted device's token: %v", err)
		}

		sid = uiaSession(t, ts, "POST", v3+"/delete_devices", alice.AccessToken, map[string]any{"devices": []string{string(third.DeviceID)}})
		err = alice.DeleteDevices(ctx, &mautrix.ReqDeleteDevices[any]{
			Devices: []id.DeviceID{third.DeviceID, "NOSUCHDEV"}, Auth: passwordAuth(sid, "alice", testPassword)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := third.Whoami(ctx); !errors.Is(err, mautrix.MUnknownToken) {
			t.Fatalf("deleted device's token: %v", err)
		}
		devs, err = alice.GetDevicesInfo(ctx)
		if err != nil || len(devs.Devices) != 1 || devs.Devices[0].DeviceID != alice.DeviceID {
			t.Fatalf("devices left: %+v %v", devs, err)
		}
		if _, err := bob.Whoami(ctx); err != nil {
			t.Fatalf("bob untouched: %v", err)
		}
	})
}

// Spec: client-server-api "Profiles": GET /profile/{userId}, GET/PUT
// displayname and avatar_url (only one's own; 404 for unknown users).
func TestProfile(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		bob := registerUser(t, ts, "bob")

		if err := alice.SetDisplayName(ctx, "Dr Alice"); err != nil {
			t.Fatal(err)
		}
		avatar := id.ContentURI{Homeserver: "ward.test", FileID: "abc"}
		if err := alice.SetAvatarURL(ctx, avatar); err != nil {
			t.Fatal(err)
		}
		p, err := bob.GetProfile(ctx, alice.UserID)
		if err != nil || p.DisplayName != "Dr Alice" || p.AvatarURL != avatar {
			t.Fatalf("profile: %+v %v", p, err)
		}
		dn, err := bob.GetDisplayName(ctx, alice.UserID)
		if err != nil || dn.DisplayName != "Dr Alice" {
			t.Fatalf("displayname: %+v %v", dn, err)
		}
		au, err := bob.GetAvatarURL(ctx, alice.UserID)
		if err != nil || au != avatar {
			t.Fatalf("avatar_url: %v %v", au, err)
		}
		st, body := call(t, ts, "PUT", v3+"/profile/@alice:ward.test/displayname", bob.AccessToken, map[string]any{"displayname": "Mallory"})
		wantError(t, "set another's name", st, body, 403, "M_FORBIDDEN")
		st, body = call(t, ts, "PUT", v3+"/profile/@alice:ward.test/avatar_url", alice.AccessToken, map[string]any{"avatar_url": "https://evil"})
		wantError(t, "non-mxc avatar", st, body, 400, "M_INVALID_PARAM")
		st, body = call(t, ts, "GET", v3+"/profile/@nobody:ward.test", "", nil)
		wantError(t, "unknown user", st, body, 404, "M_NOT_FOUND")
		st, body = call(t, ts, "GET", v3+"/profile/@nobody:ward.test/displayname", "", nil)
		wantError(t, "unknown user's name", st, body, 404, "M_NOT_FOUND")
		st, body = call(t, ts, "PUT", v3+"/profile/@alice:ward.test/displayname", "", map[string]any{"displayname": "x"})
		wantError(t, "set without token", st, body, 401, "M_MISSING_TOKEN")
	})
}

// Spec: client-server-api "Client Config" (global and room account data;
// m.fully_read and m.push_rules refused with 405 M_BAD_JSON) and "Room
// Tagging" (tags kept as m.tag); every change has a stream position.
func TestAccountDataAndTags(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		bob := registerUser(t, ts, "bob")
		room := id.RoomID("!clinic:ward.test")

		if err := alice.SetAccountData(ctx, "org.example.settings", map[string]any{"theme": "dark"}); err != nil {
			t.Fatal(err)
		}
		if err := alice.SetAccountData(ctx, "org.example.settings", map[string]any{"theme": "light"}); err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := alice.GetAccountData(ctx, "org.example.settings", &got); err != nil || got["theme"] != "light" {
			t.Fatalf("global account data: %v %v", got, err)
		}
		if err := alice.SetRoomAccountData(ctx, room, "org.example.draft", map[string]any{"text": "hi"}); err != nil {
			t.Fatal(err)
		}
		got = nil
		if err := alice.GetRoomAccountData(ctx, room, "org.example.draft", &got); err != nil || got["text"] != "hi" {
			t.Fatalf("room account data: %v %v", got, err)
		}
		st, body := call(t, ts, "GET", v3+"/user/@alice:ward.test/account_data/org.example.missing", alice.AccessToken, nil)
		wantError(t, "missing", st, body, 404, "M_NOT_FOUND")
		st, body = call(t, ts, "GET", v3+"/user/@alice:ward.test/account_data/org.example.settings", bob.AccessToken, nil)
		wantError(t, "another's account data", st, body, 403, "M_FORBIDDEN")
		st, body = call(t, ts, "PUT", v3+"/user/@alice:ward.test/account_data/org.example.x", bob.AccessToken, map[string]any{})
		wantError(t, "set another's account data", st, body, 403, "M_FORBIDDEN")
		st, body = call(t, ts, "PUT", v3+"/user/@alice:ward.test/account_data/m.push_rules", alice.AccessToken, map[string]any{})
		wantError(t, "m.push_rules", st, body, 405, "M_BAD_JSON")
		st, body = call(t, ts, "PUT", v3+"/user/@alice:ward.test/rooms/"+string(room)+"/account_data/m.fully_read", alice.AccessToken, map[string]any{"event_id": "$x"})
		wantError(t, "m.fully_read", st, body, 405, "M_BAD_JSON")
		st, body = call(t, ts, "PUT", v3+"/user/@alice:ward.test/account_data/org.example.x", alice.AccessToken, `[1,2]`)
		wantError(t, "not an object", st, body, 400, "M_BAD_JSON")
		st, body = call(t, ts, "PUT", v3+"/user/@alice:ward.test/account_data/org.example.x", alice.AccessToken, `{nope`)
		wantError(t, "not json", st, body, 400, "M_NOT_JSON")

		if err := alice.AddTag(ctx, room, event.RoomTagFavourite, 0.5); err != nil {
			t.Fatal(err)
		}
		if err := alice.AddTag(ctx, room, "u.work", 1); err != nil {
			t.Fatal(err)
		}
		if err := alice.RemoveTag(ctx, room, "u.work"); err != nil {
			t.Fatal(err)
		}
		tags, err := alice.GetTags(ctx, room)
		order, _ := tags.Tags[event.RoomTagFavourite].Order.Float64()
		if err != nil || len(tags.Tags) != 1 || order != 0.5 {
			t.Fatalf("tags: %+v %v", tags, err)
		}
		st, body = call(t, ts, "PUT", v3+"/user/@alice:ward.test/rooms/"+string(room)+"/tags/u.x", alice.AccessToken, `{"order": "first"}`)
		wantError(t, "tag order not a number", st, body, 400, "M_BAD_JSON")

		// What /sync reads: the latest value of each changed event.
		all, err := ts.Server.Accounts.AccountDataSince(ctx, alice.UserID, 0, 1<<40)
		if err != nil || len(all) != 3 {
			t.Fatalf("account data since 0: %+v %v", all, err)
		}
		seen := map[string]string{}
		for _, ad := range all {
			seen[string(ad.RoomID)+"|"+ad.Type] = string(ad.Content)
		}
		if seen["|org.example.settings"] != `{"theme":"light"}` || seen[string(room)+"|m.tag"] == "" {
			t.Fatalf("account data since 0: %v", seen)
		}
		last := all[len(all)-1].Pos
		if err := alice.SetAccountData(ctx, "org.example.later", map[string]any{}); err != nil {
			t.Fatal(err)
		}
		later, err := ts.Server.Accounts.AccountDataSince(ctx, alice.UserID, last, 1<<40)
		if err != nil || len(later) != 1 || later[0].Type != "org.example.later" || later[0].Pos <= last {
			t.Fatalf("account data since %d: %+v %v", last, later, err)
		}
	})
}

// Spec: client-server-api "Filtering": POST /user/{userId}/filter returns
// a filter_id, GET returns the filter; fields of the wrong type are
// M_BAD_JSON.
func TestFilters(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		bob := registerUser(t, ts, "bob")
		limit := 10
		resp, err := alice.CreateFilter(ctx, &mautrix.Filter{Room: &mautrix.RoomFilter{Timeline: &mautrix.FilterPart{Limit: limit}}})
		if err != nil || resp.FilterID == "" {
			t.Fatalf("create filter: %+v %v", resp, err)
		}
		st, body := call(t, ts, "GET", v3+"/user/@alice:ward.test/filter/"+resp.FilterID, alice.AccessToken, nil)
		wantOK(t, "get filter", st, body)
		if tl := body["room"].(map[string]any)["timeline"].(map[string]any); tl["limit"] != float64(10) {
			t.Fatalf("filter: %v", body)
		}
		raw, err := ts.Server.Accounts.Filter(ctx, alice.UserID, resp.FilterID)
		if err != nil || len(raw) == 0 {
			t.Fatalf("Filter: %s %v", raw, err)
		}
		if _, err := ts.Server.Accounts.Filter(ctx, bob.UserID, resp.FilterID); !errors.Is(err, mautrix.MNotFound) {
			t.Fatalf("another user's filter: %v", err)
		}
		st, body = call(t, ts, "GET", v3+"/user/@alice:ward.test/filter/999999", alice.AccessToken, nil)
		wantError(t, "unknown filter", st, body, 404, "M_NOT_FOUND")
		for _, bad := range []string{`{"room": {"timeline": {"limit": "ten"}}}`, `{"event_fields": "body"}`, `{"event_format": "xml"}`, `[]`} {
			st, body = call(t, ts, "POST", v3+"/user/@alice:ward.test/filter", alice.AccessToken, bad)
			wantError(t, "bad filter "+bad, st, body, 400, "M_BAD_JSON")
		}
		st, body = call(t, ts, "POST", v3+"/user/@alice:ward.test/filter", bob.AccessToken, `{}`)
		wantError(t, "filter for another user", st, body, 403, "M_FORBIDDEN")
	})
}

// Spec: client-server-api "Capabilities negotiation".
func TestCapabilities(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		caps, err := alice.Capabilities(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !caps.ChangePassword.IsEnabled() || caps.ThreePIDChanges.IsEnabled() || !caps.SetDisplayname.IsEnabled() ||
			!caps.SetAvatarURL.IsEnabled() || caps.GetLoginToken.IsEnabled() {
			t.Fatalf("capabilities: %+v", caps)
		}
		if caps.RoomVersions == nil || caps.RoomVersions.Default != ts.Config.DefaultRoomVersion || len(caps.RoomVersions.Available) != 3 {
			t.Fatalf("room versions: %+v", caps.RoomVersions)
		}
	})
}

// Element reads these two lists at start-up or when its settings open; Ward
// keeps no third-party identifiers and bridges no networks, so both are
// empty, and both need a login.
//
// Spec: client-server-api GET /account/3pid, GET /thirdparty/protocols.
func TestThirdPartyListsAreEmpty(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		st, body := call(t, ts, "GET", v3+"/account/3pid", alice.AccessToken, nil)
		if list, ok := body["threepids"].([]any); st != 200 || !ok || len(list) != 0 {
			t.Fatalf("GET /account/3pid: %d %v", st, body)
		}
		st, body = call(t, ts, "GET", v3+"/thirdparty/protocols", alice.AccessToken, nil)
		if st != 200 || body == nil || len(body) != 0 {
			t.Fatalf("GET /thirdparty/protocols: %d %v", st, body)
		}
		for _, p := range []string{"/account/3pid", "/thirdparty/protocols"} {
			st, body = call(t, ts, "GET", v3+p, "", nil)
			wantError(t, p+" without a token", st, body, 401, "M_MISSING_TOKEN")
		}
	})
}
