package policy_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/policy"
)

// TestClinicalRoomsTakeNoPlaintext: nothing readable gets into a clinical
// room beside the ciphertext — not as a reaction, not as fields of an
// "encrypted" event, not as a state event of any type, not in createRoom's
// initial state, not as a redaction's reason — while the encrypted
// envelope with its clear relation, bare reactions and protocol state
// still work. Scheduling rooms keep taking plaintext notices.
func TestClinicalRoomsTakeNoPlaintext(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		room := c.dm(t, "pat1", "doc1")
		pat := c.users["pat1"]
		target, err := pat.SendMessageEvent(ctx, room, event.EventEncrypted, map[string]any{
			"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn", "sender_key": "k", "session_id": "s", "device_id": "D"})
		if err != nil {
			t.Fatalf("encrypted message: %v", err)
		}
		refused := []struct {
			what    string
			evType  event.Type
			content map[string]any
		}{
			{"a reaction with a body", event.EventReaction, map[string]any{"body": "plaintext", "msgtype": "m.text"}},
			{"a reaction with a body beside its relation", event.EventReaction, map[string]any{"body": "plaintext",
				"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": target.EventID, "key": "👍"}}},
			{"a reaction with a body inside its relation", event.EventReaction, map[string]any{
				"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": target.EventID, "key": "👍", "body": "plaintext"}}},
			{"an encrypted event without algorithm or ciphertext", event.EventEncrypted, map[string]any{"body": "plaintext", "msgtype": "m.text"}},
			{"an encrypted event with plaintext beside the ciphertext", event.EventEncrypted, map[string]any{
				"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn", "body": "plaintext"}},
			{"an encrypted event whose ciphertext is not a string", event.EventEncrypted, map[string]any{
				"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": map[string]any{"body": "plaintext"}}},
			{"an encrypted edit with the new content in the clear", event.EventEncrypted, map[string]any{
				"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn",
				"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": target.EventID, "m.new_content": map[string]any{"body": "plaintext"}}}},
		}
		for _, r := range refused {
			if _, err := pat.SendMessageEvent(ctx, room, r.evType, r.content); !forbidden(err, "encryption required") {
				t.Errorf("%s in a clinical room: %v", r.what, err)
			}
		}
		for _, st := range []struct {
			evType, key string
		}{{"m.room.message", ""}, {"com.example.note", "x"}} {
			if _, err := pat.SendStateEvent(ctx, room, event.NewEventType(st.evType), st.key,
				map[string]any{"body": "Diagnosis: plaintext"}); !forbidden(err, "encryption required") {
				t.Errorf("state %s in a clinical room: %v", st.evType, err)
			}
		}
		before := joinedCount(t, c.users["doc1"])
		_, err = c.users["doc1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{c.id("pat1")},
			InitialState: []*event.Event{{Type: event.NewEventType("com.example.note"), StateKey: ptr("x"),
				Content: event.Content{Raw: map[string]any{"body": "Diagnosis: plaintext"}}}}})
		if !forbidden(err, "encryption required") {
			t.Errorf("createRoom with a custom state event in a clinical room: %v", err)
		}
		if after := joinedCount(t, c.users["doc1"]); after != before {
			t.Errorf("a refused createRoom left a room behind")
		}
		if _, err := pat.RedactEvent(ctx, room, target.EventID, mautrix.ReqRedact{Reason: "Diagnosis: plaintext"}); !forbidden(err, "encryption required") {
			t.Errorf("a redaction with a reason in a clinical room: %v", err)
		}

		// What a clinical room does take.
		if _, err := pat.SendMessageEvent(ctx, room, event.EventEncrypted, map[string]any{
			"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn", "sender_key": "k", "session_id": "s", "device_id": "D",
			"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": target.EventID, "is_falling_back": true,
				"m.in_reply_to": map[string]any{"event_id": target.EventID}}}); err != nil {
			t.Errorf("encrypted thread reply: %v", err)
		}
		if _, err := pat.SendReaction(ctx, room, target.EventID, "👍"); err != nil {
			t.Errorf("bare reaction: %v", err)
		}
		if _, err := pat.SendStateEvent(ctx, room, event.StateTopic, "", map[string]any{"topic": "follow-up"}); err != nil {
			t.Errorf("topic: %v", err)
		}
		if _, err := pat.RedactEvent(ctx, room, target.EventID); err != nil {
			t.Errorf("redaction without a reason: %v", err)
		}

		// Scheduling rooms: plaintext notices, as bots without E2EE send them.
		sched, err := c.users["staff1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{c.id("pat1")},
			InitialState: []*event.Event{{Type: event.NewEventType(policy.PurposeEventType),
				Content: event.Content{Raw: map[string]any{"purpose": "scheduling"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.users["staff1"].SendMessageEvent(ctx, sched.RoomID, event.EventMessage,
			map[string]any{"msgtype": "m.notice", "body": "Your appointment is on Monday at 9:00"}); err != nil {
			t.Errorf("plaintext notice in a scheduling room: %v", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
