package clientapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// synapseAdmin is a caller of the Synapse admin API.
type synapseAdmin struct {
	t     *testing.T
	ts    *servertest.TS
	token string
	ID    id.UserID
}

// newSynapseAdmin makes a server admin and logs it in.
func newSynapseAdmin(t *testing.T, ts *servertest.TS) *synapseAdmin {
	t.Helper()
	uid, err := ts.Server.Accounts.CreateUser(context.Background(), "admin", "admin password", true)
	if err != nil {
		t.Fatal(err)
	}
	return &synapseAdmin{t: t, ts: ts, token: login(t, ts, "admin", "admin password").AccessToken, ID: uid}
}

// do calls path (from /_synapse) with the admin's token, or with token
// when one is given.
func (a *synapseAdmin) do(method, path string, body any, token ...string) (int, gjson.Result) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.ts.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	tok := a.token
	if len(token) > 0 {
		tok = token[0]
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", "synapse-admin-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, gjson.ParseBytes(raw)
}

// want calls path and checks the status.
func (a *synapseAdmin) want(status int, method, path string, body any) gjson.Result {
	a.t.Helper()
	got, res := a.do(method, path, body)
	if got != status {
		a.t.Fatalf("%s %s: status %d, body %s; want %d", method, path, got, res.Raw, status)
	}
	return res
}

// wantErr calls path and checks the Matrix error.
func (a *synapseAdmin) wantErr(status int, errcode, method, path string, body any) {
	a.t.Helper()
	res := a.want(status, method, path, body)
	if res.Get("errcode").Str != errcode {
		a.t.Fatalf("%s %s: %s, want %s", method, path, res.Raw, errcode)
	}
}

func userPath(u id.UserID, rest ...string) string {
	p := "/_synapse/admin/v2/users/" + url.PathEscape(string(u))
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

func adminRoomPath(room id.RoomID, rest string) string {
	return "/_synapse/admin/v1/rooms/" + url.PathEscape(string(room)) + rest
}

// adminEntries is the trail's admin.* entries (refusals aside) by action.
func adminEntries(t *testing.T, ts *servertest.TS) map[string][]audit.Entry {
	t.Helper()
	out := map[string][]audit.Entry{}
	for _, e := range trail(t, ts) {
		if len(e.Action) > 6 && e.Action[:6] == "admin." {
			out[e.Action] = append(out[e.Action], e)
		}
	}
	return out
}

func names(users gjson.Result) []string {
	var out []string
	for _, u := range users.Array() {
		out = append(out, u.Get("name").Str)
	}
	return out
}

// TestSynapseAdminUsers: the users list (shape, paging, filters, order),
// get, create and modify through PUT, reset password and deactivation with
// their effect on logins, refusals for non-admins, and an audit entry for
// every call.
func TestSynapseAdminUsers(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		adm := newSynapseAdmin(t, ts)
		alice := register(t, ts, "alice")
		bob := register(t, ts, "bob")

		// Non-admins are refused, and the refusal is recorded.
		for _, p := range []string{"/_synapse/admin/v1/server_version", "/_synapse/admin/v2/users", userPath(bob.ID), "/_synapse/admin/v1/rooms"} {
			got, res := adm.do("GET", p, nil, alice.cli.AccessToken)
			if got != http.StatusForbidden || res.Get("errcode").Str != "M_FORBIDDEN" {
				t.Fatalf("non-admin GET %s: %d %s", p, got, res.Raw)
			}
		}
		if got, _ := adm.do("GET", "/_synapse/admin/v2/users", nil, "nonsense"); got != http.StatusUnauthorized {
			t.Fatalf("unknown token: %d", got)
		}
		refused := adminEntries(t, ts)["admin.refused"]
		if len(refused) != 4 || refused[0].ActorUser != string(alice.ID) || refused[0].Outcome != audit.Denied {
			t.Fatalf("refusals recorded: %+v", refused)
		}

		if v := adm.want(200, "GET", "/_synapse/admin/v1/server_version", nil).Get("server_version").Str; v == "" {
			t.Fatal("no server_version")
		}

		// The list: shape, paging, filters, order.
		res := adm.want(200, "GET", "/_synapse/admin/v2/users", nil)
		if res.Get("total").Int() != 3 || !slices.Equal(names(res.Get("users")), []string{string(adm.ID), string(alice.ID), string(bob.ID)}) ||
			res.Get("next_token").Exists() {
			t.Fatalf("users: %s", res.Raw)
		}
		u := res.Get("users.1")
		for field, want := range map[string]any{"name": string(alice.ID), "displayname": "alice", "admin": false, "deactivated": false,
			"is_guest": false, "shadow_banned": false, "locked": false} {
			if got := u.Get(field).Value(); got != want {
				t.Fatalf("users[1].%s = %v, want %v (%s)", field, got, want, u.Raw)
			}
		}
		if u.Get("creation_ts").Int() < 1e12 || u.Get("user_type").Type != gjson.Null || u.Get("avatar_url").Type != gjson.Null {
			t.Fatalf("users[1]: %s", u.Raw)
		}
		page1 := adm.want(200, "GET", "/_synapse/admin/v2/users?limit=2", nil)
		if len(page1.Get("users").Array()) != 2 || page1.Get("next_token").Str != "2" || page1.Get("total").Int() != 3 {
			t.Fatalf("page 1: %s", page1.Raw)
		}
		page2 := adm.want(200, "GET", "/_synapse/admin/v2/users?limit=2&from="+page1.Get("next_token").Str, nil)
		if !slices.Equal(names(page2.Get("users")), []string{string(bob.ID)}) || page2.Get("next_token").Exists() {
			t.Fatalf("page 2: %s", page2.Raw)
		}
		if got := names(adm.want(200, "GET", "/_synapse/admin/v2/users?name=LIC", nil).Get("users")); !slices.Equal(got, []string{string(alice.ID)}) {
			t.Fatalf("name filter: %v", got)
		}
		if got := names(adm.want(200, "GET", "/_synapse/admin/v2/users?user_id=%40bo", nil).Get("users")); !slices.Equal(got, []string{string(bob.ID)}) {
			t.Fatalf("user_id filter: %v", got)
		}
		if got := names(adm.want(200, "GET", "/_synapse/admin/v2/users?order_by=name&dir=b&guests=false", nil).Get("users")); got[0] != string(bob.ID) {
			t.Fatalf("dir=b: %v", got)
		}
		if got := names(adm.want(200, "GET", "/_synapse/admin/v2/users?order_by=admin&dir=b", nil).Get("users")); got[0] != string(adm.ID) {
			t.Fatalf("order_by=admin dir=b: %v", got)
		}
		adm.wantErr(400, "M_INVALID_PARAM", "GET", "/_synapse/admin/v2/users?order_by=password", nil)
		adm.wantErr(400, "M_INVALID_PARAM", "GET", "/_synapse/admin/v2/users?limit=-1", nil)
		adm.wantErr(400, "M_INVALID_PARAM", "GET", "/_synapse/admin/v2/users?deactivated=maybe", nil)

		// Get one.
		one := adm.want(200, "GET", userPath(alice.ID), nil)
		if one.Get("name").Str != string(alice.ID) || !one.Get("threepids").IsArray() || one.Get("admin").Bool() {
			t.Fatalf("get alice: %s", one.Raw)
		}
		adm.wantErr(404, "M_NOT_FOUND", "GET", userPath("@nobody:ward.test"), nil)
		adm.wantErr(400, "M_INVALID_PARAM", "GET", userPath("@alice:elsewhere.test"), nil)

		// Create, then modify.
		carol := id.UserID("@carol:ward.test")
		created := adm.want(201, "PUT", userPath(carol), map[string]any{"password": "carol password", "displayname": "Carol C"})
		if created.Get("name").Str != string(carol) || created.Get("displayname").Str != "Carol C" || created.Get("admin").Bool() {
			t.Fatalf("created: %s", created.Raw)
		}
		carolCli := login(t, ts, "carol", "carol password")
		mod := adm.want(200, "PUT", userPath(carol), map[string]any{"displayname": "Carol Cole", "admin": true,
			"avatar_url": "mxc://ward.test/abc"})
		if mod.Get("displayname").Str != "Carol Cole" || !mod.Get("admin").Bool() || mod.Get("avatar_url").Str != "mxc://ward.test/abc" {
			t.Fatalf("modified: %s", mod.Raw)
		}
		if st, _ := call(t, ts, "GET", v3+"/account/whoami", carolCli.AccessToken, nil); st != 200 {
			t.Fatalf("a profile change logged carol out: %d", st)
		}
		adm.wantErr(400, "M_INVALID_PARAM", "PUT", userPath(adm.ID), map[string]any{"admin": false})
		adm.wantErr(400, "M_INVALID_PARAM", "PUT", userPath(carol), map[string]any{"avatar_url": "https://example.org/a.png"})
		// A new password through PUT logs the devices out.
		adm.want(200, "PUT", userPath(carol), map[string]any{"password": "carol second"})
		if st, _ := call(t, ts, "GET", v3+"/account/whoami", carolCli.AccessToken, nil); st != http.StatusUnauthorized {
			t.Fatalf("carol still logged in after a new password: %d", st)
		}
		login(t, ts, "carol", "carol second")

		// Reset password: the old one fails, the new one works, the devices
		// are logged out unless asked otherwise.
		adm.want(200, "POST", "/_synapse/admin/v1/reset_password/"+string(alice.ID), map[string]any{"new_password": "alice new"})
		if st, _ := call(t, ts, "GET", v3+"/account/whoami", alice.cli.AccessToken, nil); st != http.StatusUnauthorized {
			t.Fatalf("alice still logged in: %d", st)
		}
		loginFails(t, ts, "alice", "correct horse battery alice")
		alice2 := login(t, ts, "alice", "alice new")
		adm.want(200, "POST", "/_synapse/admin/v1/reset_password/"+string(alice.ID), map[string]any{"new_password": "alice third", "logout_devices": false})
		if st, _ := call(t, ts, "GET", v3+"/account/whoami", alice2.AccessToken, nil); st != 200 {
			t.Fatalf("logout_devices false logged alice out: %d", st)
		}
		adm.wantErr(400, "M_MISSING_PARAM", "POST", "/_synapse/admin/v1/reset_password/"+string(alice.ID), map[string]any{})
		adm.wantErr(404, "M_NOT_FOUND", "POST", "/_synapse/admin/v1/reset_password/@nobody:ward.test", map[string]any{"new_password": "long enough password"})

		// Deactivate: logins fail, the list leaves the account out unless
		// asked, and reactivation needs a password.
		if r := adm.want(200, "POST", "/_synapse/admin/v1/deactivate/"+string(bob.ID), map[string]any{"erase": false}); r.Get("id_server_unbind_result").Str != "no-support" {
			t.Fatalf("deactivate: %s", r.Raw)
		}
		if st, _ := call(t, ts, "GET", v3+"/account/whoami", bob.cli.AccessToken, nil); st != http.StatusUnauthorized {
			t.Fatalf("bob still logged in: %d", st)
		}
		loginFails(t, ts, "bob", "correct horse battery bob")
		if got := names(adm.want(200, "GET", "/_synapse/admin/v2/users", nil).Get("users")); slices.Contains(got, string(bob.ID)) {
			t.Fatalf("deactivated bob listed: %v", got)
		}
		all := adm.want(200, "GET", "/_synapse/admin/v2/users?deactivated=true", nil)
		if all.Get("total").Int() != 4 || !all.Get(`users.#(name=="@bob:ward.test").deactivated`).Bool() {
			t.Fatalf("deactivated=true: %s", all.Raw)
		}
		adm.want(200, "POST", "/_synapse/admin/v1/deactivate/"+string(bob.ID), map[string]any{})
		adm.wantErr(400, "M_INVALID_PARAM", "PUT", userPath(bob.ID), map[string]any{"deactivated": false})
		if r := adm.want(200, "PUT", userPath(bob.ID), map[string]any{"deactivated": false, "password": "bob again"}); r.Get("deactivated").Bool() {
			t.Fatalf("reactivated: %s", r.Raw)
		}
		login(t, ts, "bob", "bob again")
		adm.want(200, "PUT", userPath(bob.ID), map[string]any{"deactivated": true})
		loginFails(t, ts, "bob", "bob again")

		// Every call is recorded with the admin as actor, and the account
		// changes with their own entries.
		entries := adminEntries(t, ts)
		for action, n := range map[string]int{"admin.server_version": 1, "admin.users.list": 12, "admin.user.get": 3,
			"admin.user.upsert": 8, "admin.user.reset_password": 4, "admin.user.deactivate": 2, "admin.user.modify": 3} {
			if len(entries[action]) != n {
				t.Errorf("%s: %d entries, want %d", action, len(entries[action]), n)
			}
			for _, e := range entries[action] {
				if e.ActorUser != string(adm.ID) {
					t.Errorf("%s by %q", action, e.ActorUser)
				}
			}
		}
		if e := entries["admin.user.get"][1]; e.Outcome != audit.Failed || e.Reason != "M_NOT_FOUND" || e.TargetUser != "@nobody:ward.test" {
			t.Errorf("failed get: %+v", e)
		}
		if e := entries["admin.user.upsert"][0]; e.Outcome != audit.Allowed || e.TargetUser != string(carol) || e.Detail["status"] != "201" {
			t.Errorf("create: %+v", e)
		}
		var resets, deacts, regs int
		for _, e := range trail(t, ts) {
			switch {
			case e.Action == audit.ActionPasswordChange && e.ActorUser == string(adm.ID):
				resets++
			case e.Action == audit.ActionDeactivate && e.ActorUser == string(adm.ID) && e.TargetUser == string(bob.ID):
				deacts++
			case e.Action == audit.ActionRegister && e.ActorUser == string(adm.ID) && e.TargetUser == string(carol):
				regs++
			}
		}
		if resets != 4 || deacts != 2 || regs != 1 {
			t.Errorf("password changes %d, deactivations %d, registrations %d by the admin", resets, deacts, regs)
		}
		if rep := verify(t, ts, nil); !rep.OK {
			t.Fatal(rep)
		}
	})
}

// An admin may not deactivate themself through the admin API, by either
// route, any more than demote themself: the server could be left without
// an admin. Ward has no identity server, so the unbind result is
// "no-support", as from POST /account/deactivate.
func TestSynapseAdminSelfDeactivation(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		adm := newSynapseAdmin(t, ts)
		bob := register(t, ts, "bob")
		adm.wantErr(400, "M_INVALID_PARAM", "POST", "/_synapse/admin/v1/deactivate/"+string(adm.ID), map[string]any{})
		adm.wantErr(400, "M_INVALID_PARAM", "POST", "/_synapse/admin/v1/deactivate/"+string(adm.ID), map[string]any{"erase": true})
		adm.wantErr(400, "M_INVALID_PARAM", "PUT", userPath(adm.ID), map[string]any{"deactivated": true})
		if r := adm.want(200, "GET", userPath(adm.ID), nil); r.Get("deactivated").Bool() || !r.Get("admin").Bool() {
			t.Fatalf("admin after refused self-deactivation: %s", r.Raw)
		}
		// Saving oneself as synapse-admin does (deactivated: false) still works.
		adm.want(200, "PUT", userPath(adm.ID), map[string]any{"deactivated": false, "displayname": "The Admin"})
		if r := adm.want(200, "POST", "/_synapse/admin/v1/deactivate/"+string(bob.ID), map[string]any{}); r.Get("id_server_unbind_result").Str != "no-support" {
			t.Fatalf("deactivate bob: %s", r.Raw)
		}
	})
}

// synapse-admin sends threepids, external_ids and user_type on every save:
// Ward keeps no third-party ids and has no user types, so they are
// accepted and ignored (README "Admin API"), and the rest of the save
// applies.
func TestSynapseAdminPutIgnoresThreepids(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		adm := newSynapseAdmin(t, ts)
		bob := register(t, ts, "bob")
		r := adm.want(200, "PUT", userPath(bob.ID), map[string]any{"displayname": "Bob Brown",
			"threepids":    []any{map[string]any{"medium": "email", "address": "bob@example.org"}},
			"external_ids": []any{map[string]any{"auth_provider": "oidc", "external_id": "b-1"}},
			"user_type":    "support"})
		if r.Get("displayname").Str != "Bob Brown" || len(r.Get("threepids").Array()) != 0 ||
			len(r.Get("external_ids").Array()) != 0 || r.Get("user_type").Type != gjson.Null {
			t.Fatalf("save with threepids: %s", r.Raw)
		}
	})
}

// loginFails checks that a password login is refused.
func loginFails(t *testing.T, ts *servertest.TS, user, password string) {
	t.Helper()
	st, body := call(t, ts, "POST", v3+"/login", "", map[string]any{"type": "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password})
	if st != http.StatusForbidden {
		t.Fatalf("login %s: %d %v, want 403", user, st, body)
	}
}

// TestSynapseAdminDevices: whois, a user's devices (list, get, rename,
// delete one, delete several) and joined rooms; a deleted device's token
// stops working.
func TestSynapseAdminDevices(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		adm := newSynapseAdmin(t, ts)
		alice := register(t, ts, "alice")
		alice.ok("GET", "/v3/account/whoami", nil)
		second := login(t, ts, "alice", "correct horse battery alice")
		third := login(t, ts, "alice", "correct horse battery alice")

		devs := adm.want(200, "GET", userPath(alice.ID, "devices"), nil)
		if devs.Get("total").Int() != 3 || len(devs.Get("devices").Array()) != 3 {
			t.Fatalf("devices: %s", devs.Raw)
		}
		first := devs.Get(`devices.#(device_id=="` + string(alice.cli.DeviceID) + `")`)
		if first.Get("user_id").Str != string(alice.ID) || first.Get("last_seen_ip").Str != "127.0.0.1" ||
			first.Get("last_seen_ts").Int() == 0 || !first.Get("last_seen_user_agent").Exists() || !first.Get("display_name").Exists() {
			t.Fatalf("device: %s", first.Raw)
		}

		who := adm.want(200, "GET", "/_synapse/admin/v1/whois/"+string(alice.ID), nil)
		conn := who.Get("devices." + string(alice.cli.DeviceID) + ".sessions.0.connections.0")
		if who.Get("user_id").Str != string(alice.ID) || len(who.Get("devices").Map()) != 3 ||
			conn.Get("ip").Str != "127.0.0.1" || conn.Get("last_seen").Int() == 0 || conn.Get("user_agent").Str == "" {
			t.Fatalf("whois: %s", who.Raw)
		}

		one := adm.want(200, "GET", userPath(alice.ID, "devices", string(second.DeviceID)), nil)
		if one.Get("device_id").Str != string(second.DeviceID) {
			t.Fatalf("device: %s", one.Raw)
		}
		adm.wantErr(404, "M_NOT_FOUND", "GET", userPath(alice.ID, "devices", "NOPE"), nil)
		adm.want(200, "PUT", userPath(alice.ID, "devices", string(second.DeviceID)), map[string]any{"display_name": "ward phone"})
		if n := adm.want(200, "GET", userPath(alice.ID, "devices", string(second.DeviceID)), nil).Get("display_name").Str; n != "ward phone" {
			t.Fatalf("renamed: %q", n)
		}

		adm.want(200, "DELETE", userPath(alice.ID, "devices", string(second.DeviceID)), nil)
		if st, _ := call(t, ts, "GET", v3+"/account/whoami", second.AccessToken, nil); st != http.StatusUnauthorized {
			t.Fatalf("deleted device still works: %d", st)
		}
		adm.want(200, "POST", userPath(alice.ID, "delete_devices"), map[string]any{"devices": []string{string(third.DeviceID), "NOPE"}})
		if st, _ := call(t, ts, "GET", v3+"/account/whoami", third.AccessToken, nil); st != http.StatusUnauthorized {
			t.Fatalf("deleted device still works: %d", st)
		}
		left := adm.want(200, "GET", userPath(alice.ID, "devices"), nil)
		if left.Get("total").Int() != 1 || left.Get("devices.0.device_id").Str != string(alice.cli.DeviceID) {
			t.Fatalf("devices left: %s", left.Raw)
		}
		adm.wantErr(404, "M_NOT_FOUND", "GET", userPath("@nobody:ward.test", "devices"), nil)

		room := alice.createRoom(map[string]any{"name": "Ward 3"})
		jr := adm.want(200, "GET", "/_synapse/admin/v1/users/"+string(alice.ID)+"/joined_rooms", nil)
		if jr.Get("total").Int() != 1 || jr.Get("joined_rooms.0").Str != string(room) {
			t.Fatalf("joined rooms: %s", jr.Raw)
		}

		var deleted []string
		for _, e := range trail(t, ts) {
			if e.Action == audit.ActionDeviceDelete && e.ActorUser == string(adm.ID) {
				deleted = append(deleted, e.Detail["device_id"])
			}
		}
		if !slices.Equal(deleted, []string{string(second.DeviceID), string(third.DeviceID)}) {
			t.Fatalf("device deletions recorded: %v", deleted)
		}
		entries := adminEntries(t, ts)
		for action, n := range map[string]int{"admin.devices.list": 3, "admin.user.whois": 1, "admin.device.get": 3,
			"admin.device.rename": 1, "admin.device.delete": 1, "admin.devices.delete": 1, "admin.user.joined_rooms": 1} {
			if len(entries[action]) != n {
				t.Errorf("%s: %d entries, want %d", action, len(entries[action]), n)
			}
		}
		if e := entries["admin.device.delete"][0]; e.Detail["device_id"] != string(second.DeviceID) || e.TargetUser != string(alice.ID) {
			t.Errorf("device delete entry: %+v", e)
		}
	})
}

// TestSynapseAdminRooms: the rooms list (shape, offset paging with
// next_batch and prev_batch, search, order), room details, members and
// state; unknown rooms, non-admins and event reports.
func TestSynapseAdminRooms(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		adm := newSynapseAdmin(t, ts)
		alice := register(t, ts, "alice")
		bob := register(t, ts, "bob")
		beta := alice.createRoom(map[string]any{"name": "Beta ward", "topic": "night shift", "room_alias_name": "beta",
			"preset": "public_chat"})
		alice.setState(beta, "m.room.avatar", map[string]any{"url": "mxc://ward.test/avatar"})
		alice.say(beta, "the secret of the beta ward")
		bob.join(beta)
		alpha := alice.createRoom(map[string]any{"name": "Alpha clinic", "initial_state": []any{
			map[string]any{"type": "m.room.encryption", "state_key": "", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}})
		gamma := alice.createRoom(map[string]any{"name": "Gamma"})
		unnamed := alice.createRoom(nil)

		res := adm.want(200, "GET", "/_synapse/admin/v1/rooms", nil)
		var order []id.RoomID
		for _, r := range res.Get("rooms").Array() {
			order = append(order, id.RoomID(r.Get("room_id").Str))
		}
		if !slices.Equal(order, []id.RoomID{alpha, beta, gamma, unnamed}) || res.Get("total_rooms").Int() != 4 ||
			res.Get("offset").Int() != 0 || res.Get("next_batch").Exists() || res.Get("prev_batch").Exists() {
			t.Fatalf("rooms: %s", res.Raw)
		}
		r := res.Get("rooms.1")
		for field, want := range map[string]any{"room_id": string(beta), "name": "Beta ward", "canonical_alias": "#beta:ward.test",
			"joined_members": 2.0, "joined_local_members": 2.0, "version": "11", "creator": string(alice.ID), "federatable": true,
			"public": false, "join_rules": "public", "history_visibility": "shared"} {
			if got := r.Get(field).Value(); got != want {
				t.Fatalf("rooms[1].%s = %v, want %v (%s)", field, got, want, r.Raw)
			}
		}
		if r.Get("encryption").Type != gjson.Null || r.Get("room_type").Type != gjson.Null || r.Get("state_events").Int() < 6 ||
			!r.Get("guest_access").Exists() {
			t.Fatalf("rooms[1]: %s", r.Raw)
		}
		if enc := res.Get("rooms.0.encryption").Str; enc != "m.megolm.v1.aes-sha2" {
			t.Fatalf("encryption: %q", enc)
		}

		p1 := adm.want(200, "GET", "/_synapse/admin/v1/rooms?limit=3", nil)
		if len(p1.Get("rooms").Array()) != 3 || p1.Get("next_batch").Int() != 3 || p1.Get("prev_batch").Exists() || p1.Get("total_rooms").Int() != 4 {
			t.Fatalf("page 1: %s", p1.Raw)
		}
		p2 := adm.want(200, "GET", "/_synapse/admin/v1/rooms?limit=3&from=3", nil)
		if len(p2.Get("rooms").Array()) != 1 || p2.Get("rooms.0.room_id").Str != string(unnamed) || p2.Get("next_batch").Exists() ||
			p2.Get("prev_batch").Int() != 0 || !p2.Get("prev_batch").Exists() || p2.Get("offset").Int() != 3 {
			t.Fatalf("page 2: %s", p2.Raw)
		}
		if first := adm.want(200, "GET", "/_synapse/admin/v1/rooms?order_by=name&dir=b", nil).Get("rooms.0.room_id").Str; first != string(unnamed) {
			t.Fatalf("dir=b first: %s", first)
		}
		if first := adm.want(200, "GET", "/_synapse/admin/v1/rooms?order_by=joined_members", nil).Get("rooms.0.room_id").Str; first != string(beta) {
			t.Fatalf("joined_members first: %s", first)
		}
		s := adm.want(200, "GET", "/_synapse/admin/v1/rooms?search_term=BETA", nil)
		if s.Get("total_rooms").Int() != 1 || s.Get("rooms.0.room_id").Str != string(beta) {
			t.Fatalf("search: %s", s.Raw)
		}
		if n := adm.want(200, "GET", "/_synapse/admin/v1/rooms?search_term="+url.QueryEscape(string(gamma)), nil).Get("total_rooms").Int(); n != 1 {
			t.Fatalf("search by room ID: %d", n)
		}
		adm.wantErr(400, "M_INVALID_PARAM", "GET", "/_synapse/admin/v1/rooms?order_by=secret", nil)
		adm.wantErr(400, "M_INVALID_PARAM", "GET", "/_synapse/admin/v1/rooms?dir=x", nil)

		d := adm.want(200, "GET", adminRoomPath(beta, ""), nil)
		if d.Get("avatar").Str != "mxc://ward.test/avatar" || d.Get("topic").Str != "night shift" || d.Get("joined_local_devices").Int() != 2 ||
			d.Get("name").Str != "Beta ward" || d.Get("joined_members").Int() != 2 {
			t.Fatalf("details: %s", d.Raw)
		}
		m := adm.want(200, "GET", adminRoomPath(beta, "/members"), nil)
		if m.Get("total").Int() != 2 || !slices.Contains([]string{m.Get("members.0").Str, m.Get("members.1").Str}, string(bob.ID)) {
			t.Fatalf("members: %s", m.Raw)
		}
		st := adm.want(200, "GET", adminRoomPath(beta, "/state"), nil)
		types := map[string]bool{}
		for _, e := range st.Get("state").Array() {
			types[e.Get("type").Str] = true
			if e.Get("event_id").Str == "" || !e.Get("state_key").Exists() {
				t.Fatalf("state event: %s", e.Raw)
			}
		}
		if !types["m.room.create"] || !types["m.room.name"] || !types["m.room.member"] || types["m.room.message"] {
			t.Fatalf("state types: %v", types)
		}
		if bytes.Contains([]byte(st.Raw), []byte("the secret of the beta ward")) {
			t.Fatal("state shows a message")
		}
		for _, p := range []string{"", "/members", "/state"} {
			adm.wantErr(404, "M_NOT_FOUND", "GET", adminRoomPath("!nope:ward.test", p), nil)
		}
		if got, res := adm.do("GET", adminRoomPath(beta, "/state"), nil, bob.cli.AccessToken); got != 403 || res.Get("errcode").Str != "M_FORBIDDEN" {
			t.Fatalf("non-admin state: %d %s", got, res.Raw)
		}
		// Ward has no event reports.
		adm.wantErr(404, "M_UNRECOGNIZED", "GET", "/_synapse/admin/v1/event_reports", nil)

		entries := adminEntries(t, ts)
		for action, n := range map[string]int{"admin.rooms.list": 9, "admin.room.get": 2, "admin.room.members": 2,
			"admin.room.state": 2, "admin.refused": 1} {
			if len(entries[action]) != n {
				t.Errorf("%s: %d entries, want %d", action, len(entries[action]), n)
			}
		}
		if e := entries["admin.room.state"][0]; e.RoomID != string(beta) || e.ActorUser != string(adm.ID) || e.Outcome != audit.Allowed {
			t.Errorf("state read entry: %+v", e)
		}
		if e := entries["admin.room.get"][1]; e.Outcome != audit.Failed || e.RoomID != "!nope:ward.test" {
			t.Errorf("failed room get entry: %+v", e)
		}
	})
}
