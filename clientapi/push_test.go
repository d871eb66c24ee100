package clientapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/pushrules"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// rawGet returns the body of an authenticated GET as raw JSON.
func rawGet(t *testing.T, ts *servertest.TS, path, token string) (int, json.RawMessage) {
	t.Helper()
	req, err := http.NewRequest("GET", ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// sameJSON compares two JSON texts by value.
func sameJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation: %v", what, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("%s:\n got %s\nwant %s", what, gb, wb)
	}
}

func ruleIDs(rules pushrules.PushRuleArray) []string {
	out := []string{}
	for _, r := range rules {
		out = append(out, r.RuleID)
	}
	return out
}

func wantIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

var (
	defaultOverride = []string{".m.rule.master", ".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.member_event",
		".m.rule.is_user_mention", ".m.rule.is_room_mention", ".m.rule.tombstone", ".m.rule.reaction",
		".m.rule.room.server_acl", ".m.rule.suppress_edits"}
	defaultUnderride = []string{".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one",
		".m.rule.message", ".m.rule.encrypted"}
)

// pushTestRoom is the member count the evaluation below pretends.
type pushTestRoom struct{ members int }

func (r pushTestRoom) GetOwnDisplayname() string { return "" }
func (r pushTestRoom) GetMemberCount() int       { return r.members }

// Spec: client-server-api "Predefined Rules" (v1.19): the server-default
// rules, in the order the spec lists them, with its exact definitions.
func TestPushRulesDefaults(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")

		rs, err := alice.GetPushRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "override", ruleIDs(rs.Override), defaultOverride...)
		wantIDs(t, "underride", ruleIDs(rs.Underride), defaultUnderride...)
		// v1.17 removed the legacy body-matching mention rules.
		wantIDs(t, "content", ruleIDs(rs.Content))
		if len(rs.Room.Map) != 0 || len(rs.Sender.Map) != 0 {
			t.Fatalf("room or sender defaults: %v %v", rs.Room.Map, rs.Sender.Map)
		}

		// Both spellings of the whole ruleset agree.
		st, all := rawGet(t, ts, v3+"/pushrules/", alice.AccessToken)
		st2, global := rawGet(t, ts, v3+"/pushrules/global/", alice.AccessToken)
		if st != 200 || st2 != 200 {
			t.Fatalf("GET pushrules: %d %s / %d %s", st, all, st2, global)
		}
		var wrapped struct {
			Global json.RawMessage `json:"global"`
		}
		if err := json.Unmarshal(all, &wrapped); err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "/pushrules/ vs /pushrules/global/", wrapped.Global, string(global))

		for ruleID, want := range map[string]string{
			"override/.m.rule.master": `{"rule_id": ".m.rule.master", "default": true, "enabled": false, "conditions": [], "actions": []}`,
			"override/.m.rule.invite_for_me": `{"rule_id": ".m.rule.invite_for_me", "default": true, "enabled": true,
				"conditions": [{"key": "type", "kind": "event_match", "pattern": "m.room.member"},
					{"key": "content.membership", "kind": "event_match", "pattern": "invite"},
					{"key": "state_key", "kind": "event_match", "pattern": "@alice:ward.test"}],
				"actions": ["notify", {"set_tweak": "sound", "value": "default"}]}`,
			"override/.m.rule.is_user_mention": `{"rule_id": ".m.rule.is_user_mention", "default": true, "enabled": true,
				"conditions": [{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": "@alice:ward.test"}],
				"actions": ["notify", {"set_tweak": "sound", "value": "default"}, {"set_tweak": "highlight"}]}`,
			"override/.m.rule.is_room_mention": `{"rule_id": ".m.rule.is_room_mention", "default": true, "enabled": true,
				"conditions": [{"kind": "event_property_is", "key": "content.m\\.mentions.room", "value": true},
					{"kind": "sender_notification_permission", "key": "room"}],
				"actions": ["notify", {"set_tweak": "highlight"}]}`,
			"override/.m.rule.tombstone": `{"rule_id": ".m.rule.tombstone", "default": true, "enabled": true,
				"conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.tombstone"},
					{"kind": "event_match", "key": "state_key", "pattern": ""}],
				"actions": ["notify", {"set_tweak": "highlight"}]}`,
			"override/.m.rule.suppress_edits": `{"rule_id": ".m.rule.suppress_edits", "default": true, "enabled": true,
				"conditions": [{"kind": "event_property_is", "key": "content.m\\.relates_to.rel_type", "value": "m.replace"}],
				"actions": []}`,
			"underride/.m.rule.encrypted_room_one_to_one": `{"rule_id": ".m.rule.encrypted_room_one_to_one", "default": true, "enabled": true,
				"conditions": [{"kind": "room_member_count", "is": "2"}, {"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"}],
				"actions": ["notify", {"set_tweak": "sound", "value": "default"}]}`,
			"underride/.m.rule.call": `{"rule_id": ".m.rule.call", "default": true, "enabled": true,
				"conditions": [{"key": "type", "kind": "event_match", "pattern": "m.call.invite"}],
				"actions": ["notify", {"set_tweak": "sound", "value": "ring"}]}`,
			"underride/.m.rule.message": `{"rule_id": ".m.rule.message", "default": true, "enabled": true,
				"conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.message"}], "actions": ["notify"]}`,
		} {
			st, body := rawGet(t, ts, v3+"/pushrules/global/"+ruleID, alice.AccessToken)
			if st != 200 {
				t.Fatalf("GET %s: %d %s", ruleID, st, body)
			}
			sameJSON(t, ruleID, body, want)
		}

		// The ruleset means what the spec says when a client evaluates it.
		msg := func(typ event.Type, content map[string]any) *event.Event {
			return &event.Event{Type: typ, Sender: "@bob:ward.test", RoomID: "!r:ward.test", Content: event.Content{Raw: content}}
		}
		for _, c := range []struct {
			what    string
			evt     *event.Event
			members int
			rule    string
		}{
			{"notice", msg(event.EventMessage, map[string]any{"msgtype": "m.notice", "body": "hi"}), 5, ".m.rule.suppress_notices"},
			{"one-to-one", msg(event.EventMessage, map[string]any{"msgtype": "m.text", "body": "hi"}), 2, ".m.rule.room_one_to_one"},
			{"group", msg(event.EventMessage, map[string]any{"msgtype": "m.text", "body": "hi"}), 5, ".m.rule.message"},
			{"encrypted group", msg(event.EventEncrypted, map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}), 5, ".m.rule.encrypted"},
			{"mention", msg(event.EventMessage, map[string]any{"msgtype": "m.text", "body": "hi",
				"m.mentions": map[string]any{"user_ids": []any{"@alice:ward.test"}}}), 5, ".m.rule.is_user_mention"},
			{"reaction", msg(event.EventReaction, map[string]any{}), 5, ".m.rule.reaction"},
		} {
			got := rs.GetMatchingRule(pushTestRoom{c.members}, c.evt)
			if got == nil || got.RuleID != c.rule {
				t.Fatalf("%s: matched %v, want %s", c.what, got, c.rule)
			}
		}
	})
}

// Spec: client-server-api PUT/DELETE /pushrules/{scope}/{kind}/{ruleId}
// (before, after; a new rule is the most important user rule of its kind)
// and "Predefined Rules" (user rules rank above server defaults, except
// .m.rule.master).
func TestPushRulesUserRules(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		notify := pushrules.PushActionArray{{Action: pushrules.ActionNotify}}
		put := func(id string, before, after string) {
			t.Helper()
			pattern := id + "*"
			if err := alice.PutPushRule(ctx, "global", pushrules.ContentRule, id, &mautrix.ReqPutPushRule{
				Before: before, After: after, Actions: notify, Pattern: pattern}); err != nil {
				t.Fatalf("put %s: %v", id, err)
			}
		}
		content := func() []string {
			t.Helper()
			rs, err := alice.GetPushRules(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return ruleIDs(rs.Content)
		}

		put("cake", "", "")
		put("pie", "", "")
		wantIDs(t, "new rules go first", content(), "pie", "cake")
		put("tea", "", "pie")
		wantIDs(t, "after", content(), "pie", "tea", "cake")
		put("coffee", "cake", "")
		wantIDs(t, "before", content(), "pie", "tea", "coffee", "cake")
		put("pie", "", "cake")
		wantIDs(t, "moved by replacing", content(), "tea", "coffee", "cake", "pie")
		put("coffee", "", "")
		wantIDs(t, "replaced in place", content(), "tea", "coffee", "cake", "pie")
		put("scone", "pie", "tea")
		wantIDs(t, "before wins over after", content(), "tea", "coffee", "cake", "scone", "pie")
		if err := alice.DeletePushRule(ctx, "global", pushrules.ContentRule, "tea"); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "deleted", content(), "coffee", "cake", "scone", "pie")

		st, body := rawGet(t, ts, v3+"/pushrules/global/content/cake", alice.AccessToken)
		if st != 200 {
			t.Fatalf("get cake: %d %s", st, body)
		}
		sameJSON(t, "content rule", body, `{"rule_id": "cake", "default": false, "enabled": true, "pattern": "cake*", "actions": ["notify"]}`)

		// An override rule ranks below .m.rule.master and above the other defaults.
		if err := alice.PutPushRule(ctx, "global", pushrules.OverrideRule, "quiet-bots", &mautrix.ReqPutPushRule{
			Actions:    pushrules.PushActionArray{},
			Conditions: []*pushrules.PushCondition{{Kind: pushrules.KindEventMatch, Key: "sender", Pattern: "@bot*"}},
		}); err != nil {
			t.Fatal(err)
		}
		// Room and sender rules are named by the room and the sender.
		room := id.RoomID("!somewhere:ward.test")
		if err := alice.PutPushRule(ctx, "global", pushrules.RoomRule, string(room), &mautrix.ReqPutPushRule{Actions: pushrules.PushActionArray{}}); err != nil {
			t.Fatal(err)
		}
		if err := alice.PutPushRule(ctx, "global", pushrules.SenderRule, "@bob:ward.test", &mautrix.ReqPutPushRule{Actions: notify}); err != nil {
			t.Fatal(err)
		}
		rs, err := alice.GetPushRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "override", ruleIDs(rs.Override), append([]string{".m.rule.master", "quiet-bots"}, defaultOverride[1:]...)...)
		if rs.Room.Map[string(room)] == nil || rs.Sender.Map["@bob:ward.test"] == nil {
			t.Fatalf("room or sender rule missing: %v %v", rs.Room.Map, rs.Sender.Map)
		}
		st, body = rawGet(t, ts, v3+"/pushrules/global/override/quiet-bots", alice.AccessToken)
		if st != 200 {
			t.Fatalf("get quiet-bots: %d %s", st, body)
		}
		sameJSON(t, "override rule", body, `{"rule_id": "quiet-bots", "default": false, "enabled": true,
			"conditions": [{"kind": "event_match", "key": "sender", "pattern": "@bot*"}], "actions": []}`)

		// Another user's rules are their own.
		bob := registerUser(t, ts, "bob")
		brs, err := bob.GetPushRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "bob's content", ruleIDs(brs.Content))
	})
}

// Spec: client-server-api GET/PUT /pushrules/{scope}/{kind}/{ruleId}/enabled
// and .../actions, on server-default and user rules; "Historical Actions"
// (dont_notify is stripped).
func TestPushRulesEnabledAndActions(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		tok := alice.AccessToken

		if err := alice.SetPushRuleEnabled(ctx, "global", pushrules.UnderrideRule, ".m.rule.message", false); err != nil {
			t.Fatal(err)
		}
		if err := alice.SetPushRuleEnabled(ctx, "global", pushrules.OverrideRule, ".m.rule.master", true); err != nil {
			t.Fatal(err)
		}
		st, body := rawGet(t, ts, v3+"/pushrules/global/underride/.m.rule.message/enabled", tok)
		sameJSON(t, "message enabled", body, `{"enabled": false}`)
		st, body = rawGet(t, ts, v3+"/pushrules/global/override/.m.rule.master/enabled", tok)
		sameJSON(t, "master enabled", body, `{"enabled": true}`)

		st, resp := call(t, ts, "PUT", v3+"/pushrules/global/underride/.m.rule.encrypted/actions", tok,
			`{"actions": ["notify", "dont_notify", {"set_tweak": "sound", "value": "bing"}, {"set_tweak": "highlight", "value": false}]}`)
		wantOK(t, "set actions", st, resp)
		st, body = rawGet(t, ts, v3+"/pushrules/global/underride/.m.rule.encrypted/actions", tok)
		if st != 200 {
			t.Fatalf("get actions: %d %s", st, body)
		}
		sameJSON(t, "actions", body, `{"actions": ["notify", {"set_tweak": "sound", "value": "bing"}, {"set_tweak": "highlight", "value": false}]}`)

		// The changed defaults keep their place and their conditions.
		st, body = rawGet(t, ts, v3+"/pushrules/global/underride/.m.rule.encrypted", tok)
		sameJSON(t, "changed default", body, `{"rule_id": ".m.rule.encrypted", "default": true, "enabled": true,
			"conditions": [{"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"}],
			"actions": ["notify", {"set_tweak": "sound", "value": "bing"}, {"set_tweak": "highlight", "value": false}]}`)
		rs, err := alice.GetPushRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "underride", ruleIDs(rs.Underride), defaultUnderride...)
		if rs.Override[0].RuleID != ".m.rule.master" || !rs.Override[0].Enabled || rs.Underride[3].Enabled {
			t.Fatalf("enabled flags: master %v, message %v", rs.Override[0].Enabled, rs.Underride[3].Enabled)
		}

		// A user rule: disabled, then its actions changed; still disabled.
		if err := alice.PutPushRule(ctx, "global", pushrules.SenderRule, "@bob:ward.test",
			&mautrix.ReqPutPushRule{Actions: pushrules.PushActionArray{}}); err != nil {
			t.Fatal(err)
		}
		st, resp = call(t, ts, "PUT", v3+"/pushrules/global/sender/@bob:ward.test/enabled", tok, map[string]any{"enabled": false})
		wantOK(t, "disable", st, resp)
		if err := alice.PutPushRuleActions(ctx, "global", pushrules.SenderRule, "@bob:ward.test",
			pushrules.PushActionArray{{Action: pushrules.ActionNotify}}); err != nil {
			t.Fatal(err)
		}
		st, body = rawGet(t, ts, v3+"/pushrules/global/sender/@bob:ward.test", tok)
		sameJSON(t, "sender rule", body, `{"rule_id": "@bob:ward.test", "default": false, "enabled": false, "actions": ["notify"]}`)
	})
}

// Spec: client-server-api "Push Rules: API": 404 M_NOT_FOUND for a rule
// that does not exist; 400 for IDs starting with a dot (reserved for
// server-default rules) or holding slashes, for before/after naming a rule
// that is not there or a server-default one, and for bodies that are not
// push rules.
func TestPushRulesErrors(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		tok := alice.AccessToken
		const base = v3 + "/pushrules/global/"
		notify := map[string]any{"actions": []any{"notify"}, "pattern": "x"}

		for _, c := range []struct {
			what, method, path string
			body               any
			status             int
			code               string
		}{
			{"no token", "GET", v3 + "/pushrules/", nil, 401, "M_MISSING_TOKEN"},
			{"unknown rule", "GET", base + "override/nope", nil, 404, "M_NOT_FOUND"},
			{"unknown default", "GET", base + "override/.m.rule.nope", nil, 404, "M_NOT_FOUND"},
			{"default of another kind", "GET", base + "content/.m.rule.message", nil, 404, "M_NOT_FOUND"},
			{"unknown rule enabled", "GET", base + "room/!x:ward.test/enabled", nil, 404, "M_NOT_FOUND"},
			{"unknown rule actions", "PUT", base + "underride/nope/actions", map[string]any{"actions": []any{}}, 404, "M_NOT_FOUND"},
			{"unknown rule set enabled", "PUT", base + "underride/nope/enabled", map[string]any{"enabled": true}, 404, "M_NOT_FOUND"},
			{"delete unknown", "DELETE", base + "content/nope", nil, 404, "M_NOT_FOUND"},
			{"bad scope", "GET", v3 + "/pushrules/device/override/x", nil, 400, "M_INVALID_PARAM"},
			{"bad kind", "GET", base + "everything/x", nil, 400, "M_INVALID_PARAM"},
			{"bad kind put", "PUT", base + "everything/x", notify, 400, "M_INVALID_PARAM"},
			{"create a dot rule", "PUT", base + "content/.mine", notify, 400, "M_INVALID_PARAM"},
			{"replace a default", "PUT", base + "override/.m.rule.master", map[string]any{"actions": []any{}}, 400, "M_INVALID_PARAM"},
			{"delete a default", "DELETE", base + "underride/.m.rule.message", nil, 400, "M_INVALID_PARAM"},
			{"backslash", "PUT", base + `content/a\b`, notify, 400, "M_INVALID_PARAM"},
			{"room rule not a room", "PUT", base + "room/nope", map[string]any{"actions": []any{}}, 400, "M_INVALID_PARAM"},
			{"sender rule not a user", "PUT", base + "sender/nope", map[string]any{"actions": []any{}}, 400, "M_INVALID_PARAM"},
			{"before missing rule", "PUT", base + "content/x?before=ghost", notify, 400, "M_UNKNOWN"},
			{"after a default", "PUT", base + "override/x?after=.m.rule.master", map[string]any{"actions": []any{}}, 400, "M_INVALID_PARAM"},
			{"no pattern", "PUT", base + "content/x", map[string]any{"actions": []any{"notify"}}, 400, "M_MISSING_PARAM"},
			{"no actions", "PUT", base + "content/x", map[string]any{"pattern": "x"}, 400, "M_MISSING_PARAM"},
			{"unknown action", "PUT", base + "content/x", map[string]any{"pattern": "x", "actions": []any{"shout"}}, 400, "M_INVALID_PARAM"},
			{"bad condition", "PUT", base + "override/x", map[string]any{"actions": []any{}, "conditions": []any{"nope"}}, 400, "M_BAD_JSON"},
			{"actions not a list", "PUT", base + "underride/.m.rule.call/actions", map[string]any{"actions": "notify"}, 400, "M_BAD_JSON"},
			{"enabled missing", "PUT", base + "underride/.m.rule.call/enabled", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"not json", "PUT", base + "content/x", "{nope", 400, "M_NOT_JSON"},
		} {
			token := tok
			if c.code == "M_MISSING_TOKEN" {
				token = ""
			}
			st, body := call(t, ts, c.method, c.path, token, c.body)
			wantError(t, c.what, st, body, c.status, c.code)
		}
		// Nothing of it was stored.
		rs, err := alice.GetPushRules(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "content", ruleIDs(rs.Content))
		wantIDs(t, "override", ruleIDs(rs.Override), defaultOverride...)
	})
}

// pushRulesIn returns the m.push_rules content in a /sync answer's global
// account data, or nil.
func pushRulesIn(t *testing.T, resp map[string]any) map[string]any {
	t.Helper()
	ad, _ := resp["account_data"].(map[string]any)
	events, _ := ad["events"].([]any)
	for _, e := range events {
		ev, _ := e.(map[string]any)
		if ev["type"] == "m.push_rules" {
			c, _ := ev["content"].(map[string]any)
			return c
		}
	}
	return nil
}

func contentRuleIDs(c map[string]any) []string {
	global, _ := c["global"].(map[string]any)
	rules, _ := global["content"].([]any)
	out := []string{}
	for _, r := range rules {
		m, _ := r.(map[string]any)
		out = append(out, m["rule_id"].(string))
	}
	return out
}

// Spec: client-server-api "Push Rules: Events": m.push_rules in the global
// account data of /sync carries the current rules; the first sync of a user
// who never changed a rule carries the defaults.
func TestPushRulesInSync(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		tok := alice.AccessToken

		st, first := call(t, ts, "GET", v3+"/sync", tok, nil)
		wantOK(t, "initial sync", st, first)
		rules := pushRulesIn(t, first)
		if rules == nil {
			t.Fatalf("initial sync has no m.push_rules: %v", first["account_data"])
		}
		raw, _ := json.Marshal(rules)
		_, want := rawGet(t, ts, v3+"/pushrules/", tok)
		sameJSON(t, "initial m.push_rules", raw, string(want))

		// The first sync stored the defaults; an incremental sync from a
		// token older than that write carries them once more, then never.
		since := first["next_batch"].(string)
		st, again := call(t, ts, "GET", v3+"/sync?timeout=0&since="+since, tok, nil)
		wantOK(t, "incremental sync", st, again)
		if c := pushRulesIn(t, again); c != nil {
			raw, _ := json.Marshal(c)
			sameJSON(t, "repeated m.push_rules", raw, string(want))
		}
		since = again["next_batch"].(string)
		st, again = call(t, ts, "GET", v3+"/sync?timeout=0&since="+since, tok, nil)
		wantOK(t, "incremental sync", st, again)
		if pushRulesIn(t, again) != nil {
			t.Fatalf("unchanged m.push_rules sent again")
		}
		since = again["next_batch"].(string)

		// A change wakes a waiting sync and arrives whole.
		done := make(chan map[string]any, 1)
		go func() {
			_, resp := call(t, ts, "GET", v3+"/sync?timeout=10000&since="+since, tok, nil)
			done <- resp
		}()
		if err := alice.PutPushRule(ctx, "global", pushrules.ContentRule, "cake", &mautrix.ReqPutPushRule{
			Actions: pushrules.PushActionArray{{Action: pushrules.ActionNotify}}, Pattern: "cake"}); err != nil {
			t.Fatal(err)
		}
		changed := pushRulesIn(t, <-done)
		if changed == nil {
			t.Fatal("change not in /sync")
		}
		wantIDs(t, "synced content rules", contentRuleIDs(changed), "cake")
		raw, _ = json.Marshal(changed)
		_, want = rawGet(t, ts, v3+"/pushrules/", tok)
		sameJSON(t, "m.push_rules after a change", raw, string(want))

		// A new device's first sync gets the changed rules, once.
		other := login(t, ts, "alice", testPassword)
		st, fresh := call(t, ts, "GET", v3+"/sync", other.AccessToken, nil)
		wantOK(t, "second device's sync", st, fresh)
		wantIDs(t, "second device's rules", contentRuleIDs(pushRulesIn(t, fresh)), "cake")
		n := 0
		for _, e := range fresh["account_data"].(map[string]any)["events"].([]any) {
			if e.(map[string]any)["type"] == "m.push_rules" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("m.push_rules %d times in one sync", n)
		}

		// mautrix-go reads the rules from there too.
		resp, err := alice.FullSyncRequest(ctx, mautrix.ReqSync{})
		if err != nil {
			t.Fatal(err)
		}
		var got *pushrules.PushRuleset
		for _, ev := range resp.AccountData.Events {
			if ev.Type == event.AccountDataPushRules {
				if got, err = pushrules.EventToPushRules(ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got == nil || len(got.Content) != 1 || got.Content[0].RuleID != "cake" {
			t.Fatalf("mautrix sees %v", got)
		}

		// On a server whose streams have moved on, a user who never changed
		// a rule gets the defaults in the initial sync, and nothing is
		// written for it: the next sync does not repeat them.
		bob := registerUser(t, ts, "bob")
		st, bobFirst := call(t, ts, "GET", v3+"/sync", bob.AccessToken, nil)
		wantOK(t, "bob's initial sync", st, bobFirst)
		bobRules := pushRulesIn(t, bobFirst)
		if bobRules == nil {
			t.Fatal("bob's initial sync has no m.push_rules")
		}
		raw, _ = json.Marshal(bobRules)
		_, want = rawGet(t, ts, v3+"/pushrules/", bob.AccessToken)
		sameJSON(t, "bob's m.push_rules", raw, string(want))
		st, bobNext := call(t, ts, "GET", v3+"/sync?timeout=0&since="+bobFirst["next_batch"].(string), bob.AccessToken, nil)
		wantOK(t, "bob's incremental sync", st, bobNext)
		if pushRulesIn(t, bobNext) != nil {
			t.Fatal("bob's defaults repeated")
		}

		// Clients still cannot write it themselves.
		st, body := call(t, ts, "PUT", v3+"/user/@alice:ward.test/account_data/m.push_rules", tok, map[string]any{})
		wantError(t, "write m.push_rules", st, body, 405, "M_BAD_JSON")
	})
}

// Spec: client-server-api GET /pushers and POST /pushers/set (kind null
// deletes; without append the same app ID and push key leave other users).
// Pushers are stored only: the server delivers nothing yet.
func TestPushers(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		bob := registerUser(t, ts, "bob")
		kindHTTP := mautrix.PusherKindHTTP
		pusher := func(appID, key, gateway string, appendIt bool) *mautrix.Pusher {
			return &mautrix.Pusher{AppID: mautrix.PusherAppID(appID), PushKey: key, Kind: &kindHTTP, AppDisplayName: "Ward Chat",
				DeviceDisplayName: "Phone", Language: "en", Append: appendIt,
				Data: mautrix.PusherData{"url": gateway, "format": "event_id_only"}}
		}
		const gw = "https://push.clinic.example/_matrix/push/v1/notify"
		list := func(cli *mautrix.Client) []mautrix.Pusher {
			t.Helper()
			resp, err := cli.GetPushers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Pushers
		}

		st, body := rawGet(t, ts, v3+"/pushers", alice.AccessToken)
		sameJSON(t, "no pushers", body, `{"pushers": []}`)
		_ = st

		if err := alice.SetPusher(ctx, pusher("org.clinic.ios", "tokenA", gw, false)); err != nil {
			t.Fatal(err)
		}
		st, body = rawGet(t, ts, v3+"/pushers", alice.AccessToken)
		sameJSON(t, "one pusher", body, `{"pushers": [{"pushkey": "tokenA", "kind": "http", "app_id": "org.clinic.ios",
			"app_display_name": "Ward Chat", "device_display_name": "Phone", "lang": "en",
			"data": {"url": "`+gw+`", "format": "event_id_only"}}]}`)

		// Same app ID and push key: replaced, not added.
		p := pusher("org.clinic.ios", "tokenA", gw, false)
		p.DeviceDisplayName = "New phone"
		if err := alice.SetPusher(ctx, p); err != nil {
			t.Fatal(err)
		}
		if ps := list(alice); len(ps) != 1 || ps[0].DeviceDisplayName != "New phone" {
			t.Fatalf("replaced: %+v", ps)
		}

		// Bob takes the same push key with append: both keep it; without
		// append, it leaves Alice.
		if err := bob.SetPusher(ctx, pusher("org.clinic.ios", "tokenA", gw, true)); err != nil {
			t.Fatal(err)
		}
		if len(list(alice)) != 1 || len(list(bob)) != 1 {
			t.Fatal("append removed a pusher")
		}
		if err := bob.SetPusher(ctx, pusher("org.clinic.ios", "tokenA", gw, false)); err != nil {
			t.Fatal(err)
		}
		if len(list(alice)) != 0 || len(list(bob)) != 1 {
			t.Fatalf("without append: alice %v, bob %v", list(alice), list(bob))
		}

		// kind null deletes.
		st, resp := call(t, ts, "POST", v3+"/pushers/set", bob.AccessToken, map[string]any{"kind": nil, "app_id": "org.clinic.ios", "pushkey": "tokenA"})
		wantOK(t, "delete", st, resp)
		if len(list(bob)) != 0 {
			t.Fatal("not deleted")
		}

		// A device's pushers go with it.
		phone := login(t, ts, "alice", testPassword)
		if err := phone.SetPusher(ctx, pusher("org.clinic.android", "tokenB", gw, false)); err != nil {
			t.Fatal(err)
		}
		if err := alice.SetPusher(ctx, pusher("org.clinic.web", "tokenC", gw, false)); err != nil {
			t.Fatal(err)
		}
		if len(list(alice)) != 2 {
			t.Fatalf("pushers: %+v", list(alice))
		}
		if _, err := phone.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if ps := list(alice); len(ps) != 1 || ps[0].PushKey != "tokenC" {
			t.Fatalf("after logout: %+v", ps)
		}

		for _, c := range []struct {
			what   string
			body   map[string]any
			status int
			code   string
		}{
			{"missing kind", map[string]any{"app_id": "a", "pushkey": "k"}, 400, "M_MISSING_PARAM"},
			{"missing fields", map[string]any{"kind": "http", "app_id": "a", "pushkey": "k"}, 400, "M_MISSING_PARAM"},
			{"no url", map[string]any{"kind": "http", "app_id": "a", "pushkey": "k", "app_display_name": "A",
				"device_display_name": "D", "lang": "en", "data": map[string]any{}}, 400, "M_MISSING_PARAM"},
			{"wrong path", map[string]any{"kind": "http", "app_id": "a", "pushkey": "k", "app_display_name": "A",
				"device_display_name": "D", "lang": "en", "data": map[string]any{"url": "https://gw.example/notify"}}, 400, "M_INVALID_PARAM"},
			{"email", map[string]any{"kind": "email", "app_id": "m.email", "pushkey": "a@example.org", "app_display_name": "A",
				"device_display_name": "D", "lang": "en", "data": map[string]any{}}, 400, "M_INVALID_PARAM"},
			{"long app id", map[string]any{"kind": nil, "app_id": string(bytes.Repeat([]byte("a"), 65)), "pushkey": "k"}, 400, "M_INVALID_PARAM"},
		} {
			st, body := call(t, ts, "POST", v3+"/pushers/set", alice.AccessToken, c.body)
			wantError(t, c.what, st, body, c.status, c.code)
		}
		var re mautrix.HTTPError
		if err := alice.SetPusher(ctx, pusher("x", "y", "not a url", false)); !errors.As(err, &re) || re.RespError == nil || re.RespError.ErrCode != "M_INVALID_PARAM" {
			t.Fatalf("bad url: %v", err)
		}
	})
}
