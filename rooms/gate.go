package rooms

import (
	"context"
	"encoding/json"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/db"
)

// Gate is the clinic policy as rooms asks it. A nil Gate means plain
// Matrix behaviour (the policy switched off for conformance testing).
type Gate interface {
	CheckCreate(ctx context.Context, creator id.UserID, invitees []id.UserID, purpose string, public bool) error
	CheckJoin(ctx context.Context, newcomer, inviter id.UserID, byInvite bool, purpose string, creator id.UserID, members []id.UserID, joinRule string, published bool) error
	CheckSend(ctx context.Context, sender id.UserID, purpose string, encrypted bool, evType string, isState bool, content json.RawMessage) error
	// CheckState decides a state event's type and content in a room whose
	// joined members and invitees (for a new room: its creator, invitees
	// and additional creators) are members.
	CheckState(ctx context.Context, sender id.UserID, purpose string, members []id.UserID, evType string, content json.RawMessage) error
	CheckPublish(ctx context.Context, user id.UserID, members []id.UserID) error
}

// RoomFacts is what the policy needs to know of a room.
type RoomFacts struct {
	RoomID    id.RoomID
	Purpose   string
	Encrypted bool
	Creator   id.UserID
	// Members are the joined members and pending invitees.
	Members []id.UserID
	// JoinRule is the room's join rule; Published, whether it is listed in
	// the room directory.
	JoinRule  string
	Published bool
}

// Facts reads a room's purpose, encryption, creator and members.
func (s *Service) Facts(ctx context.Context, roomID id.RoomID) (RoomFacts, error) {
	return s.facts(ctx, s.db.Read, roomID)
}

func (s *Service) facts(ctx context.Context, q db.Querier, roomID id.RoomID) (RoomFacts, error) {
	f := RoomFacts{RoomID: roomID}
	if err := q.QueryRowContext(ctx, `SELECT creator, is_public FROM rooms WHERE room_id = $1`, string(roomID)).Scan(&f.Creator, &f.Published); err != nil {
		return f, err
	}
	rows, err := q.QueryContext(ctx, `SELECT cs.type, cs.state_key, cs.membership, e.pdu FROM current_state cs
		JOIN events e ON e.event_id = cs.event_id
		WHERE cs.room_id = $1 AND (cs.type = 'm.room.member' AND cs.membership IN ('join', 'invite')
			OR cs.type = 'm.room.encryption' OR cs.type = 'm.room.join_rules' OR cs.type = $2)`, string(roomID), s.purposeType)
	if err != nil {
		return f, err
	}
	defer rows.Close()
	for rows.Next() {
		var typ, sk, raw string
		var membership *string
		if err := rows.Scan(&typ, &sk, &membership, &raw); err != nil {
			return f, err
		}
		switch typ {
		case "m.room.member":
			f.Members = append(f.Members, id.UserID(sk))
		case "m.room.encryption":
			f.Encrypted = gjson.Get(raw, "content.algorithm").Str != ""
		case "m.room.join_rules":
			if sk == "" {
				f.JoinRule = gjson.Get(raw, "content.join_rule").Str
			}
		default:
			if sk == "" {
				f.Purpose = gjson.Get(raw, "content.purpose").Str
			}
		}
	}
	return f, rows.Err()
}

// checkMembership asks the gate about a membership change before it is
// made: invites and joins bring someone into the room.
func (s *Service) checkMembership(ctx context.Context, sender, target id.UserID, roomID id.RoomID, membership string) error {
	if s.gate == nil || (membership != "invite" && membership != "join" && membership != "knock") {
		return nil
	}
	ctx = audit.WithTargetUser(audit.WithRoom(ctx, string(roomID)), string(target))
	f, err := s.facts(ctx, s.db.Read, roomID)
	if err != nil {
		// Unknown room: the append will answer properly.
		return nil
	}
	byInvite := membership == "invite"
	if membership == "join" {
		cur, err := currentStateEvent(ctx, s.db.Read, roomID, event.StateMember.Type, string(target))
		if err != nil {
			return err
		}
		if cur != nil && cur.Membership == "join" {
			return nil // a profile change, nobody new
		}
		byInvite = cur != nil && cur.Membership == "invite"
	}
	inviter := sender
	if membership != "invite" {
		inviter = ""
	}
	return s.gate.CheckJoin(ctx, target, inviter, byInvite, f.Purpose, f.Creator, f.Members, f.JoinRule, f.Published)
}

// megolm is the one encryption algorithm clinical rooms use.
const megolm = "m.megolm.v1.aes-sha2"

// checkPurposeContent refuses a purpose state event whose value is not one
// the policy knows (an unknown value must never read as "not clinical").
func (s *Service) checkPurposeContent(evType string, content []byte) error {
	if evType != s.purposeType {
		return nil
	}
	if p := gjson.GetBytes(content, "purpose"); p.Type != gjson.String || (p.Str != "clinical" && p.Str != "scheduling") {
		return mautrix.MBadJSON.WithMessage(`Room purpose must be {"purpose": "clinical"} or {"purpose": "scheduling"}`)
	}
	return nil
}

// checkSend asks the gate about a non-membership event. Under the policy a
// clinical room's m.room.encryption can only ever name Megolm: encryption
// cannot be switched off or made unusable.
func (s *Service) checkSend(ctx context.Context, sender id.UserID, roomID id.RoomID, evType string, isState bool, content []byte) error {
	if err := s.checkPurposeContent(evType, content); err != nil {
		return err
	}
	if s.gate == nil {
		return nil
	}
	ctx = audit.WithRoom(ctx, string(roomID))
	f, err := s.facts(ctx, s.db.Read, roomID)
	if err != nil {
		return nil
	}
	if evType == event.StateEncryption.Type && f.Purpose != "scheduling" && gjson.GetBytes(content, "algorithm").Str != megolm {
		return mautrix.MForbidden.WithMessage("Refused by clinic policy: encryption required: a clinical room's encryption must be %s", megolm)
	}
	if isState {
		// The state check weighs the room's members (join rules): only
		// for someone who may see them.
		if err := s.requireJoined(ctx, sender, roomID); err != nil {
			return err
		}
		if err := s.gate.CheckState(ctx, sender, f.Purpose, f.Members, evType, content); err != nil {
			return err
		}
	}
	return s.gate.CheckSend(ctx, sender, f.Purpose, f.Encrypted, evType, isState, content)
}

// policyInitialState completes a new room's initial state under the
// policy: the purpose is stated explicitly, and clinical rooms (and
// scheduling rooms unless configured otherwise) are encrypted from creation.
func (s *Service) policyInitialState(req *CreateRequest) (purpose string) {
	purpose = "clinical"
	for _, st := range req.InitialState {
		if st.Type == s.purposeType && st.StateKey == "" {
			purpose = gjson.GetBytes(st.Content, "purpose").Str
		}
	}
	if s.gate == nil {
		return purpose
	}
	if purpose != "scheduling" {
		// A clinical room's encryption is Megolm, whatever the client asked.
		for i, st := range req.InitialState {
			if st.Type == event.StateEncryption.Type && st.StateKey == "" && gjson.GetBytes(st.Content, "algorithm").Str != megolm {
				req.InitialState[i].Content = json.RawMessage(`{"algorithm":"` + megolm + `"}`)
			}
		}
	}
	if !hasInitial(req.InitialState, s.purposeType, "") {
		req.InitialState = append(req.InitialState, InitialStateEvent{Type: s.purposeType,
			Content: json.RawMessage(`{"purpose":"clinical"}`)})
	}
	encrypt := purpose == "clinical" || (purpose == "scheduling" && s.encryptScheduling)
	if encrypt && !hasInitial(req.InitialState, event.StateEncryption.Type, "") {
		req.InitialState = append(req.InitialState, InitialStateEvent{Type: event.StateEncryption.Type,
			Content: json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)})
	}
	return purpose
}
