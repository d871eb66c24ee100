package rooms

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// Auditor records an action inside the transaction that performs it, or
// alone for a refusal that writes nothing. A nil Auditor records nothing.
type Auditor interface {
	Record(ctx context.Context, tx *sql.Tx, e audit.Entry) error
	RecordAlone(ctx context.Context, e audit.Entry) error
}

// auditEvent records an appended event in its transaction: room, event id,
// type, sender and the room's joined members before the event applies (the
// recipients). Member events are recorded as the membership change they
// are; never the content.
func (s *Service) auditEvent(ctx context.Context, tx *sql.Tx, r *roomRow, p proto, e *Event) error {
	if s.audit == nil {
		return nil
	}
	entry := audit.Entry{
		ActorUser: string(p.Sender), ActorDevice: string(p.TxnDevice), Action: audit.ActionEventSend,
		RoomID: string(r.ID), EventID: string(e.ID), EventType: p.Type,
	}
	switch p.Type {
	case event.StateCreate.Type:
		entry.Action = audit.ActionRoomCreate
		entry.Detail = map[string]string{"room_version": string(r.Version)}
		return s.audit.Record(ctx, tx, entry)
	case event.EventRedaction.Type:
		entry.Action = audit.ActionRedact
	case event.StateMember.Type:
		if p.StateKey != nil {
			entry.TargetUser = *p.StateKey
			prev, err := previousMembership(ctx, tx, r.ID, *p.StateKey)
			if err != nil {
				return err
			}
			entry.Action = membershipAction(e.Membership, prev, string(p.Sender) != *p.StateKey)
			if reason := gjson.GetBytes(p.Content, "reason"); reason.Type == gjson.String && e.Membership != "join" {
				// A kick or ban reason is the moderator's note, not a message.
				entry.Reason = reason.Str
			}
		}
	}
	all, err := r.memberships(ctx, tx)
	if err != nil {
		return err
	}
	members := make([]string, 0, len(all))
	for u, m := range all {
		if m == "join" {
			members = append(members, u)
		}
	}
	entry.Detail = audit.RecipientsDetail(members, int64(e.Pos))
	if e.StateKey != nil && p.Type != event.StateMember.Type {
		entry.Detail["state_key"] = *e.StateKey
	}
	if p.Redacts != "" {
		entry.Detail["redacts"] = string(p.Redacts)
	} else if r := gjson.GetBytes(p.Content, "redacts"); p.Type == event.EventRedaction.Type && r.Type == gjson.String {
		entry.Detail["redacts"] = r.Str
	}
	return s.audit.Record(ctx, tx, entry)
}

func membershipAction(membership, prev string, byOther bool) string {
	switch membership {
	case "invite":
		return audit.ActionInvite
	case "join":
		if prev == "join" {
			// join → join: the member's display name or avatar changed.
			return audit.ActionProfile
		}
		return audit.ActionJoin
	case "ban":
		return audit.ActionBan
	case "knock":
		return audit.ActionKnock
	case "leave":
		switch {
		case prev == "ban":
			return audit.ActionUnban
		case byOther && prev != "invite" && prev != "knock":
			return audit.ActionKick
		}
		return audit.ActionLeave
	}
	return audit.ActionEventSend
}

// previousMembership reads target's membership before the event applies.
func previousMembership(ctx context.Context, tx *sql.Tx, roomID id.RoomID, target string) (string, error) {
	var m sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT membership FROM current_state WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2`,
		string(roomID), target).Scan(&m)
	if err == sql.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("audit: read membership: %w", err)
	}
	return m.String, nil
}
