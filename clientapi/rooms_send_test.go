package clientapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// Spec: client-server-api "Transaction identifiers": the same txnId from
// the same device is the same request — one event, the same event ID.
func TestSendIdempotent(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		room := alice.createRoom(nil)
		path := roomPath(room, "send", "m.room.message", "same-txn")
		msg := map[string]any{"msgtype": "m.text", "body": "once"}
		first := alice.ok("PUT", path, msg).Get("event_id").Str
		second := alice.ok("PUT", path, msg).Get("event_id").Str
		if first == "" || first != second {
			t.Fatalf("retries gave %q and %q", first, second)
		}
		chunk := alice.ok("GET", roomPath(room, "messages")+"?dir=b&limit=50", nil).Get("chunk")
		if got := bodies(chunk); len(got) != 1 {
			t.Errorf("messages after a retried send: %v", got)
		}
		// The sender's own device sees its transaction id.
		if got := chunk.Get("0.unsigned.transaction_id").Str; got != "same-txn" {
			t.Errorf("unsigned.transaction_id = %q", got)
		}
		// Another txnId is a new event.
		if other := alice.say(room, "once"); other == "" || string(other) == first {
			t.Errorf("a new txnId reused %s", other)
		}
	})
}

// Copies of one request sent at once (a client retrying before the first
// answer came back) race past the check made before the write; still one
// event, and every copy answers its id.
//
// Spec: client-server-api "Transaction identifiers".
func TestSendIdempotentUnderConcurrentRetries(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		room := alice.createRoom(nil)
		for round := range 5 {
			path := roomPath(room, "send", "m.room.message", fmt.Sprintf("burst-%d", round))
			msg := map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("burst %d", round)}
			ids := make([]string, 8)
			var wg sync.WaitGroup
			for i := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ids[i] = alice.ok("PUT", path, msg).Get("event_id").Str
				}()
			}
			wg.Wait()
			for _, got := range ids {
				if got == "" || got != ids[0] {
					t.Fatalf("round %d: copies of one request answered %v", round, ids)
				}
			}
		}
		chunk := alice.ok("GET", roomPath(room, "messages")+"?dir=b&limit=50", nil).Get("chunk")
		n := 0
		for _, e := range chunk.Array() {
			if e.Get("type").Str == "m.room.message" {
				n++
			}
		}
		if n != 5 {
			t.Fatalf("%d messages for 5 requests sent 8 times each:\n%s", n, chunk.Raw)
		}
	})
}

// Spec: client-server-api "Size limits": an event over 65536 bytes is
// refused with 413 M_TOO_LARGE, as content and as state.
func TestSendTooLarge(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		room := alice.createRoom(nil)
		big := map[string]any{"msgtype": "m.text", "body": strings.Repeat("x", 66000)}
		alice.fails("PUT", roomPath(room, "send", "m.room.message", "big"), big, http.StatusRequestEntityTooLarge, "M_TOO_LARGE")
		alice.fails("PUT", roomPath(room, "state", "org.example.big", ""), big, http.StatusRequestEntityTooLarge, "M_TOO_LARGE")
		// Just under the content limit but over it once signed and wrapped.
		edge := map[string]any{"body": strings.Repeat("y", 65400)}
		alice.fails("PUT", roomPath(room, "send", "m.room.message", "edge"), edge, http.StatusRequestEntityTooLarge, "M_TOO_LARGE")
		alice.say(room, strings.Repeat("z", 60000))
	})
}

// Spec: client-server-api "Sending events to a room": content must be a
// JSON object (M_NOT_JSON, M_BAD_JSON); ids in the path are checked.
func TestSendBadInput(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		room := alice.createRoom(nil)
		alice.fails("PUT", roomPath(room, "send", "m.room.message", "a"), raw(`{"body":`), http.StatusBadRequest, "M_NOT_JSON")
		alice.fails("PUT", roomPath(room, "send", "m.room.message", "b"), raw(`["body"]`), http.StatusBadRequest, "M_BAD_JSON")
		alice.fails("PUT", roomPath(room, "send", "m.room.message", "c"), raw(`"text"`), http.StatusBadRequest, "M_BAD_JSON")
		alice.fails("PUT", roomPath(room, "send", "m.room.message", "d"), raw(`null`), http.StatusBadRequest, "M_BAD_JSON")
		alice.fails("PUT", "/v3/rooms/nope/send/m.room.message/e", map[string]any{}, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.fails("GET", roomPath(room, "event", "no-dollar"), nil, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.fails("GET", roomPath(room, "event", "$unknown"), nil, http.StatusNotFound, "M_NOT_FOUND")
		alice.fails("PUT", roomPath(room, "redact", "bad", "r"), map[string]any{}, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.fails("GET", roomPath(room, "state", "m.room.name", ""), nil, http.StatusNotFound, "M_NOT_FOUND")
	})
}

// Spec: client-server-api "Redactions" and "Room versions" (redaction
// algorithm): after a redaction the body is gone from /event and /messages,
// keys the version preserves survive, and unsigned.redacted_because is set.
func TestRedactionPerRoomVersion(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		for _, v := range []string{"10", "11", "12"} {
			room := alice.createRoom(map[string]any{"room_version": v, "preset": "public_chat"})
			bob.join(room)
			msg := bob.say(room, "private details v"+v)
			// bob (PL 0) may not redact alice's events, only his own.
			own := alice.say(room, "alice's")
			bob.fails("PUT", roomPath(room, "redact", string(own), "r-"+v), map[string]any{}, http.StatusForbidden, "M_FORBIDDEN")
			red := bob.ok("PUT", roomPath(room, "redact", string(msg), "r1-"+v), map[string]any{"reason": "wrong patient"}).Get("event_id").Str

			ev := alice.ok("GET", roomPath(room, "event", string(msg)), nil)
			if ev.Get("content.body").Exists() || ev.Get("content.msgtype").Exists() {
				t.Errorf("v%s: redacted event still has content: %s", v, ev.Raw)
			}
			if ev.Get("unsigned.redacted_because.event_id").Str != red ||
				ev.Get("unsigned.redacted_because.content.reason").Str != "wrong patient" {
				t.Errorf("v%s: redacted_because: %s", v, ev.Get("unsigned").Raw)
			}
			chunk := alice.ok("GET", roomPath(room, "messages")+"?dir=b&limit=50", nil).Get("chunk")
			if strings.Contains(chunk.Raw, "private details") {
				t.Errorf("v%s: /messages still shows the redacted body", v)
			}
			redaction := alice.ok("GET", roomPath(room, "event", red), nil)
			if v == "10" && redaction.Get("redacts").Str != string(msg) {
				t.Errorf("v10 redaction without top-level redacts: %s", redaction.Raw)
			}
			if v != "10" && redaction.Get("content.redacts").Str != string(msg) {
				t.Errorf("v%s redaction without content.redacts: %s", v, redaction.Raw)
			}

			// Redacting state keeps the keys the algorithm preserves.
			alice.setState(room, "m.room.join_rules", map[string]any{"join_rule": "public", "extra": "gone"})
			jr := alice.ok("GET", roomPath(room, "state", "m.room.join_rules", "")+"?format=event", nil)
			alice.ok("PUT", roomPath(room, "redact", jr.Get("event_id").Str, "r2-"+v), map[string]any{})
			content := alice.ok("GET", roomPath(room, "state", "m.room.join_rules", ""), nil)
			if content.Get("join_rule").Str != "public" || content.Get("extra").Exists() {
				t.Errorf("v%s: redacted join_rules content %s", v, content.Raw)
			}
		}
	})
}
