package policy_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/policy"
)

// directoryGet calls a directory endpoint with token ("" for none) and
// returns the status and the decoded answer.
func (c *clinic) directoryGet(t *testing.T, token, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.ts.URL+"/_matrix/client/v3/directory/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func aliasPath(alias string) string  { return "room/" + url.PathEscape(alias) }
func listPath(room id.RoomID) string { return "list/room/" + url.PathEscape(string(room)) }

// TestDirectoryIsForCliniciansAndAdmins: with the policy on, patients,
// office staff, bots and people without a role resolve an alias and read a
// room's directory listing only for rooms they are joined or invited to;
// any other room answers exactly as one that does not exist. Clinicians
// and admins use the directory as before.
func TestDirectoryIsForCliniciansAndAdmins(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		for _, name := range []string{"bot1", "norole"} {
			cli, err := mautrix.NewClient(c.ts.URL, "", "")
			if err != nil {
				t.Fatal(err)
			}
			resp, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: name, Password: "password of " + name})
			if err != nil {
				t.Fatalf("register %s: %v", name, err)
			}
			cli.SetCredentials(resp.UserID, resp.AccessToken)
			c.users[name] = cli
		}
		must(t, c.ts.Server.Policy.SetRole(ctx, c.id("bot1"), policy.RoleBot))

		// The tester's room: a provider's public room with an alias.
		staffRoom, err := c.users["doc1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomAliasName: "cardio-staff", Visibility: "public"})
		if err != nil {
			t.Fatal(err)
		}
		const staffAlias = "#cardio-staff:ward.test"
		// A patient's DM with an alias, and a room office staff is invited to.
		dm := c.dm(t, "doc1", "pat1")
		if _, err := c.users["doc1"].CreateAlias(ctx, "#pat1-care:ward.test", dm); err != nil {
			t.Fatal(err)
		}
		office, err := c.users["doc1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomAliasName: "front-office",
			Invite: []id.UserID{c.id("staff1")}})
		if err != nil {
			t.Fatal(err)
		}

		// What a room that does not exist answers.
		_, noAlias := c.directoryGet(t, c.users["pat2"].AccessToken, aliasPath("#nowhere:ward.test"))
		_, noRoom := c.directoryGet(t, c.users["pat2"].AccessToken, listPath("!nowhere:ward.test"))
		hidden := func(who, what string, status int, body, want map[string]any) {
			t.Helper()
			if status != http.StatusNotFound || body["errcode"] != "M_NOT_FOUND" || body["room_id"] != nil ||
				body["visibility"] != nil {
				t.Errorf("%s, %s: %d %v, want 404 M_NOT_FOUND", who, what, status, body)
			}
			// The message names the alias asked for, and nothing else.
			msg, _ := body["error"].(string)
			for _, a := range []string{staffAlias, "#pat1-care:ward.test"} {
				msg = strings.ReplaceAll(msg, a, "#nowhere:ward.test")
			}
			if msg != want["error"] {
				t.Errorf("%s, %s: message %q, a missing room's is %q", who, what, body["error"], want["error"])
			}
		}
		shown := func(who, what string, status int, body map[string]any, key, want string) {
			t.Helper()
			if status != http.StatusOK || body[key] != want {
				t.Errorf("%s, %s: %d %v, want %s %s", who, what, status, body, key, want)
			}
		}

		for _, who := range []string{"pat1", "pat2", "staff1", "bot1", "norole"} {
			tok := c.users[who].AccessToken
			st, body := c.directoryGet(t, tok, aliasPath(staffAlias))
			hidden(who, "alias of a clinicians' room", st, body, noAlias)
			st, body = c.directoryGet(t, tok, listPath(staffRoom.RoomID))
			hidden(who, "listing of a clinicians' room", st, body, noRoom)
		}
		st, body := c.directoryGet(t, "", listPath(staffRoom.RoomID))
		hidden("no token", "listing of a clinicians' room", st, body, noRoom)
		if st, body := c.directoryGet(t, "not-a-token", listPath(staffRoom.RoomID)); st != http.StatusUnauthorized ||
			body["errcode"] != "M_UNKNOWN_TOKEN" {
			t.Errorf("a bad token: %d %v", st, body)
		}

		// Their own rooms, joined or invited to, answer.
		st, body = c.directoryGet(t, c.users["pat1"].AccessToken, aliasPath("#pat1-care:ward.test"))
		shown("pat1", "alias of her DM", st, body, "room_id", string(dm))
		st, body = c.directoryGet(t, c.users["pat1"].AccessToken, listPath(dm))
		shown("pat1", "listing of her DM", st, body, "visibility", "private")
		st, body = c.directoryGet(t, c.users["staff1"].AccessToken, aliasPath("#front-office:ward.test"))
		shown("staff1", "alias of a room he is invited to", st, body, "room_id", string(office.RoomID))
		st, body = c.directoryGet(t, c.users["staff1"].AccessToken, listPath(office.RoomID))
		shown("staff1", "listing of a room he is invited to", st, body, "visibility", "private")
		st, body = c.directoryGet(t, c.users["pat2"].AccessToken, aliasPath("#pat1-care:ward.test"))
		hidden("pat2", "alias of another patient's DM", st, body, noAlias)

		// Joining by alias tells no more than resolving it: a room behind
		// an alias one may not look up is no known room, as an alias that
		// names nothing.
		for _, alias := range []string{staffAlias, "#pat1-care:ward.test", "#nowhere:ward.test"} {
			_, err := c.users["pat2"].JoinRoom(ctx, alias, nil)
			var re mautrix.HTTPError
			if !errors.As(err, &re) || re.RespError == nil || re.Response.StatusCode != http.StatusNotFound ||
				re.RespError.ErrCode != "M_NOT_FOUND" || re.RespError.Err != "No known room "+alias {
				t.Fatalf("pat2 joins %s: %v, want 404 M_NOT_FOUND \"No known room %s\"", alias, err, alias)
			}
		}

		// Leaving ends it.
		if _, err := c.users["pat1"].LeaveRoom(ctx, dm); err != nil {
			t.Fatal(err)
		}
		st, body = c.directoryGet(t, c.users["pat1"].AccessToken, listPath(dm))
		hidden("pat1", "listing of the DM she left", st, body, noRoom)

		// Clinicians and admins, members or not, use the directory.
		for _, who := range []string{"doc1", "doc2", "nurse1", "admin1"} {
			tok := c.users[who].AccessToken
			st, body := c.directoryGet(t, tok, aliasPath(staffAlias))
			shown(who, "alias of a clinicians' room", st, body, "room_id", string(staffRoom.RoomID))
			st, body = c.directoryGet(t, tok, listPath(staffRoom.RoomID))
			shown(who, "listing of a clinicians' room", st, body, "visibility", "public")
			st, body = c.directoryGet(t, tok, listPath(dm))
			shown(who, "listing of a patient's DM", st, body, "visibility", "private")
		}
	})
}
