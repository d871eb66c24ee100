package rooms

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/stream"
)

// typingState is who is typing where. It lives in memory: typing is
// ephemeral and a restart forgetting it loses nothing a client was promised.
type typingState struct {
	mu     sync.Mutex
	now    func() time.Time
	serial int64
	rooms  map[id.RoomID]*roomTyping
}

type roomTyping struct {
	serial int64
	until  map[id.UserID]time.Time
}

func newTypingState(now func() time.Time) *typingState {
	return &typingState{now: now, rooms: make(map[id.RoomID]*roomTyping)}
}

// SetTyping records that user is or stopped typing in a room they are
// joined to (spec: PUT /rooms/{roomId}/typing/{userId}).
func (s *Service) SetTyping(ctx context.Context, user id.UserID, roomID id.RoomID, typing bool, timeout time.Duration) error {
	cur, err := currentStateEvent(ctx, s.db.Read, roomID, "m.room.member", string(user))
	if err != nil {
		return err
	}
	if cur == nil || cur.Membership != "join" {
		return mautrix.MForbidden.WithMessage("You are not in this room")
	}
	if timeout <= 0 || timeout > 2*time.Minute {
		timeout = 30 * time.Second
	}
	t := s.typing
	t.mu.Lock()
	rt := t.rooms[roomID]
	if rt == nil {
		rt = &roomTyping{until: map[id.UserID]time.Time{}}
		t.rooms[roomID] = rt
	}
	_, was := rt.until[user]
	if typing {
		rt.until[user] = t.now().Add(timeout)
	} else {
		delete(rt.until, user)
	}
	changed := was != typing
	if changed {
		t.serial++
		rt.serial = t.serial
	}
	t.mu.Unlock()
	if changed {
		users, err := interestedUsers(ctx, s.db.Read, roomID)
		if err != nil {
			return err
		}
		s.notifier.Wake(users...)
	}
	return nil
}

// TypingSerial is the typing stream's current position.
func (s *Service) TypingSerial() int64 {
	s.typing.mu.Lock()
	defer s.typing.mu.Unlock()
	return s.typing.serial
}

// Typing returns who is typing in the room and whether that changed after
// serial since.
func (s *Service) Typing(roomID id.RoomID, since int64) (users []id.UserID, changed bool) {
	t := s.typing
	t.mu.Lock()
	defer t.mu.Unlock()
	rt := t.rooms[roomID]
	if rt == nil {
		return nil, false
	}
	now := t.now()
	for u, until := range rt.until {
		if now.After(until) {
			delete(rt.until, u)
			t.serial++
			rt.serial = t.serial
			continue
		}
		users = append(users, u)
	}
	return users, rt.serial > since || since > t.serial
}

// Receipt is one read receipt.
type Receipt struct {
	RoomID   id.RoomID
	UserID   id.UserID
	Type     string
	ThreadID string
	EventID  id.EventID
	TS       int64
	Pos      stream.Position
}

// SetReceipt records a receipt (spec: POST /rooms/{roomId}/receipt/{receiptType}/{eventId}).
// Receipt types m.read and m.read.private; m.fully_read goes to account data.
func (s *Service) SetReceipt(ctx context.Context, user id.UserID, roomID id.RoomID, receiptType string, eid id.EventID, threadID string) error {
	if _, err := s.Event(ctx, user, roomID, eid); err != nil {
		return err
	}
	cur, err := currentStateEvent(ctx, s.db.Read, roomID, "m.room.member", string(user))
	if err != nil {
		return err
	}
	if cur == nil || cur.Membership != "join" {
		return mautrix.MForbidden.WithMessage("You are not in this room")
	}
	return s.commitAndWake(ctx, func(tx *sql.Tx, wake *wakeList) error {
		pos, err := stream.Allocate(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, ts, stream_pos)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE SET event_id = excluded.event_id,
				ts = excluded.ts, stream_pos = excluded.stream_pos`,
			string(roomID), string(user), receiptType, threadID, string(eid), s.now().UnixMilli(), int64(pos))
		if err != nil {
			return err
		}
		if receiptType == "m.read.private" {
			wake.user(string(user))
		} else {
			wake.room(roomID)
		}
		return nil
	})
}

// ReceiptsSince returns the receipts of a room changed with since < pos <= upto,
// leaving out other users' private receipts, as an m.receipt event content.
func (s *Service) ReceiptsSince(ctx context.Context, viewer id.UserID, roomID id.RoomID, since, upto stream.Position) (json.RawMessage, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, receipt_type, thread_id, event_id, ts FROM receipts
		WHERE room_id = $1 AND stream_pos > $2 AND stream_pos <= $3`, string(roomID), int64(since), int64(upto))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	content := map[string]map[string]map[string]map[string]any{}
	n := 0
	for rows.Next() {
		var r Receipt
		if err := rows.Scan(&r.UserID, &r.Type, &r.ThreadID, &r.EventID, &r.TS); err != nil {
			return nil, err
		}
		if r.Type == "m.read.private" && r.UserID != viewer {
			continue
		}
		byType := content[string(r.EventID)]
		if byType == nil {
			byType = map[string]map[string]map[string]any{}
			content[string(r.EventID)] = byType
		}
		if byType[r.Type] == nil {
			byType[r.Type] = map[string]map[string]any{}
		}
		entry := map[string]any{"ts": r.TS}
		if r.ThreadID != "" {
			entry["thread_id"] = r.ThreadID
		}
		byType[r.Type][string(r.UserID)] = entry
		n++
	}
	if err := rows.Err(); err != nil || n == 0 {
		return nil, err
	}
	return json.Marshal(content)
}
