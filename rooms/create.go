package rooms

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/matrixid"
)

func encodeKey(k ed25519.PrivateKey) string {
	return base64.RawStdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

// SupportedVersions are the room versions Ward creates and serves.
var SupportedVersions = []id.RoomVersion{id.RoomV10, id.RoomV11, id.RoomV12}

// IsSupportedVersion reports whether v is one of SupportedVersions.
func IsSupportedVersion(v id.RoomVersion) bool {
	for _, s := range SupportedVersions {
		if s == v {
			return true
		}
	}
	return false
}

// InitialStateEvent is one entry of createRoom's initial_state.
type InitialStateEvent struct {
	Type     string          `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// CreateRequest is the body of POST /createRoom
// (spec: client-server-api "Creation", POST /_matrix/client/v3/createRoom).
type CreateRequest struct {
	Visibility                string              `json:"visibility"`
	RoomAliasName             string              `json:"room_alias_name"`
	Name                      *string             `json:"name"`
	Topic                     *string             `json:"topic"`
	Invite                    []id.UserID         `json:"invite"`
	Invite3PID                []json.RawMessage   `json:"invite_3pid"`
	RoomVersion               id.RoomVersion      `json:"room_version"`
	CreationContent           map[string]any      `json:"creation_content"`
	InitialState              []InitialStateEvent `json:"initial_state"`
	Preset                    string              `json:"preset"`
	IsDirect                  bool                `json:"is_direct"`
	PowerLevelContentOverride map[string]any      `json:"power_level_content_override"`
}

func randomLocal(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func strptr(s string) *string { return &s }

// CreateRoom creates a room with all its initial events in one transaction:
// either the whole room exists afterwards or nothing does.
func (s *Service) CreateRoom(ctx context.Context, creator id.UserID, req CreateRequest) (id.RoomID, error) {
	version := req.RoomVersion
	if version == "" {
		version = s.defaultVersion
	}
	if !IsSupportedVersion(version) {
		return "", mautrix.MUnsupportedRoomVersion.WithStatus(400).WithMessage("Room version %q is not supported", version)
	}
	preset := req.Preset
	if preset == "" {
		if req.Visibility == "public" {
			preset = "public_chat"
		} else {
			preset = "private_chat"
		}
	}
	if preset != "private_chat" && preset != "trusted_private_chat" && preset != "public_chat" {
		return "", mautrix.MInvalidParam.WithMessage("Unknown preset %q", preset)
	}
	if req.Visibility != "" && req.Visibility != "public" && req.Visibility != "private" {
		return "", mautrix.MInvalidParam.WithMessage("visibility must be public or private")
	}
	if len(req.Invite3PID) > 0 {
		return "", mautrix.MForbidden.WithMessage("Third-party invites are not supported on this server")
	}
	for _, u := range req.Invite {
		if err := matrixid.CheckUserID(u); err != nil {
			return "", mautrix.MInvalidParam.WithMessage("Invalid user ID %q in invite", u)
		}
		if u.Homeserver() != s.serverName {
			return "", mautrix.MForbidden.WithMessage("Only local users can be invited (this server does not federate)")
		}
		if err := s.checkInviteeExists(ctx, u); err != nil {
			return "", err
		}
	}
	var alias id.RoomAlias
	if req.RoomAliasName != "" {
		if strings.ContainsAny(req.RoomAliasName, ":# \t\n\x00") {
			return "", mautrix.MInvalidParam.WithMessage("room_alias_name must be a bare localpart")
		}
		alias = id.RoomAlias("#" + req.RoomAliasName + ":" + s.serverName)
	}
	for _, st := range req.InitialState {
		if st.Type == "" {
			return "", mautrix.MBadJSON.WithMessage("initial_state entries need a type")
		}
		// PostgreSQL text cannot hold NUL; nor should an event type or state key.
		if strings.ContainsRune(st.Type+st.StateKey, 0) {
			return "", mautrix.MInvalidParam.WithMessage("initial_state type and state_key may not contain NUL")
		}
		if st.Type == event.StateCreate.Type || st.Type == event.StateMember.Type {
			return "", mautrix.MInvalidParam.WithMessage("initial_state may not contain %s", st.Type)
		}
		if err := s.checkPurposeContent(st.Type, st.Content); err != nil {
			return "", err
		}
	}
	purpose := s.policyInitialState(&req)
	if s.gate != nil {
		public := preset == "public_chat" || req.Visibility == "public"
		// An additional creator (room version 12) holds unlimited power in
		// the room: the policy weighs them as it weighs an invitee.
		brought, err := additionalCreators(req.CreationContent)
		if err != nil {
			return "", err
		}
		brought = append(append([]id.UserID{}, req.Invite...), brought...)
		if err := s.gate.CheckCreate(ctx, creator, brought, purpose, public); err != nil {
			return "", err
		}
		// The initial state is judged as the same events sent later would be.
		members := append([]id.UserID{creator}, brought...)
		for _, st := range req.InitialState {
			content := st.Content
			if content == nil {
				content = json.RawMessage("{}")
			}
			if err := s.gate.CheckState(ctx, creator, purpose, members, st.Type, content); err != nil {
				return "", err
			}
		}
	}
	creatorName, creatorAvatar, err := s.profile(ctx, creator)
	if err != nil {
		return "", err
	}
	// Read everything outside the write transaction: on PostgreSQL a read
	// from the pool while holding the stream lock could wait for a
	// connection held by a writer waiting for that lock.
	inviteContent := make([]map[string]any, len(req.Invite))
	for i, u := range req.Invite {
		if inviteContent[i], err = s.memberContent(ctx, u, "invite", ""); err != nil {
			return "", err
		}
		if req.IsDirect {
			inviteContent[i]["is_direct"] = true
		}
	}

	var roomID id.RoomID
	err = s.commitAndWake(ctx, func(tx *sql.Tx, wake *wakeList) error {
		r := &roomRow{Version: version, Creator: creator}
		if !version.RoomIDIsCreateEventID() {
			r.ID = id.RoomID("!" + randomLocal(18) + ":" + s.serverName)
		} else {
			// The room ID is the create event's ID; insert the row under a
			// placeholder and rename it once the event exists.
			r.ID = id.RoomID("!pending" + randomLocal(18))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rooms (room_id, room_version, creator, created_ts, is_public)
			VALUES ($1, $2, $3, $4, $5)`, string(r.ID), string(version), string(creator), s.now().UnixMilli(),
			req.Visibility == "public"); err != nil {
			return fmt.Errorf("insert room: %w", err)
		}
		createContent := map[string]any{}
		for k, v := range req.CreationContent {
			createContent[k] = v
		}
		createContent["room_version"] = string(version)
		if version.CreatorInContent() {
			createContent["creator"] = string(creator)
		} else {
			delete(createContent, "creator")
		}
		placeholder := r.ID
		createEv, err := s.appendEvent(ctx, tx, r, proto{Type: event.StateCreate.Type, StateKey: strptr(""),
			Sender: creator, Content: mustJSON(createContent)})
		if err != nil {
			return err
		}
		if r.ID != placeholder {
			if err := renameRoom(ctx, tx, placeholder, r.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE rooms SET last_event_id = $1, depth = $2 WHERE room_id = $3`,
				string(r.LastEventID), r.Depth, string(r.ID)); err != nil {
				return err
			}
			createEv.RoomID = r.ID
		}
		roomID = r.ID
		send := func(evType, stateKey string, content any) error {
			_, err := s.appendEvent(ctx, tx, r, proto{Type: evType, StateKey: strptr(stateKey), Sender: creator, Content: mustJSON(content)})
			return err
		}
		join := map[string]any{"membership": "join"}
		if creatorName != "" {
			join["displayname"] = creatorName
		}
		if creatorAvatar != "" {
			join["avatar_url"] = creatorAvatar
		}
		if err := send(event.StateMember.Type, string(creator), join); err != nil {
			return err
		}
		if err := send(event.StatePowerLevels.Type, "", s.initialPowerLevels(version, creator, preset, req)); err != nil {
			return err
		}
		if alias != "" {
			if err := s.insertAlias(ctx, tx, alias, r.ID, creator); err != nil {
				return err
			}
			if err := send(event.StateCanonicalAlias.Type, "", map[string]any{"alias": alias}); err != nil {
				return err
			}
		}
		joinRule, history := "invite", "shared"
		if preset == "public_chat" {
			joinRule = "public"
		}
		presetState := map[string]any{
			event.StateJoinRules.Type:         map[string]any{"join_rule": joinRule},
			event.StateHistoryVisibility.Type: map[string]any{"history_visibility": history},
			// Ward has no guests.
			event.StateGuestAccess.Type: map[string]any{"guest_access": "forbidden"},
		}
		for _, t := range []string{event.StateJoinRules.Type, event.StateHistoryVisibility.Type, event.StateGuestAccess.Type} {
			if hasInitial(req.InitialState, t, "") {
				continue
			}
			if err := send(t, "", presetState[t]); err != nil {
				return err
			}
		}
		for _, st := range req.InitialState {
			content := st.Content
			if content == nil {
				content = json.RawMessage("{}")
			}
			if _, err := s.appendEvent(ctx, tx, r, proto{Type: st.Type, StateKey: strptr(st.StateKey), Sender: creator, Content: content}); err != nil {
				return err
			}
		}
		if req.Name != nil {
			if err := send(event.StateRoomName.Type, "", map[string]any{"name": *req.Name}); err != nil {
				return err
			}
		}
		if req.Topic != nil {
			if err := send(event.StateTopic.Type, "", map[string]any{"topic": *req.Topic}); err != nil {
				return err
			}
		}
		for i, u := range req.Invite {
			if err := send(event.StateMember.Type, string(u), inviteContent[i]); err != nil {
				return err
			}
			wake.user(string(u))
		}
		wake.roomRow(r)
		return nil
	})
	if err != nil {
		return "", err
	}
	return roomID, nil
}

// additionalCreators reads creation_content.additional_creators: a list
// of user IDs when present.
func additionalCreators(creation map[string]any) ([]id.UserID, error) {
	raw, ok := creation["additional_creators"]
	if !ok {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, mautrix.MBadJSON.WithMessage("creation_content.additional_creators must be a list of user IDs")
	}
	out := make([]id.UserID, 0, len(list))
	for _, v := range list {
		u, ok := v.(string)
		if !ok {
			return nil, mautrix.MBadJSON.WithMessage("creation_content.additional_creators must be a list of user IDs")
		}
		out = append(out, id.UserID(u))
	}
	return out, nil
}

func hasInitial(list []InitialStateEvent, evType, stateKey string) bool {
	for _, st := range list {
		if st.Type == evType && st.StateKey == stateKey {
			return true
		}
	}
	return false
}

// renameRoom moves the rows written under a placeholder room ID to the
// real one (room version 12, whose room ID derives from the create event).
func renameRoom(ctx context.Context, tx *sql.Tx, from, to id.RoomID) error {
	for _, table := range []string{"rooms", "events", "current_state"} {
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET room_id = $1 WHERE room_id = $2`, string(to), string(from)); err != nil {
			return fmt.Errorf("rename room in %s: %w", table, err)
		}
	}
	return nil
}

// initialPowerLevels is the power_levels content of a new room, with the
// client's override merged over it.
func (s *Service) initialPowerLevels(version id.RoomVersion, creator id.UserID, preset string, req CreateRequest) map[string]any {
	users := map[string]any{}
	if !version.PrivilegedRoomCreators() {
		users[string(creator)] = 100
	}
	if preset == "trusted_private_chat" {
		for _, u := range req.Invite {
			users[string(u)] = 100
		}
	}
	invite := 0
	if preset == "public_chat" {
		invite = 50
	}
	pl := map[string]any{
		"users": users, "users_default": 0,
		"events": map[string]any{
			"m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
			"m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": 100,
			"m.room.server_acl": 100, "m.room.encryption": 100, "m.room.topic": 50,
			"m.room.pinned_events": 50,
		},
		"events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50, "invite": invite,
		"notifications": map[string]any{"room": 50},
	}
	if version.PrivilegedRoomCreators() {
		pl["events"].(map[string]any)["m.room.tombstone"] = 150
	}
	for k, v := range req.PowerLevelContentOverride {
		pl[k] = v
	}
	return pl
}

func (s *Service) profile(ctx context.Context, u id.UserID) (string, string, error) {
	if s.profiles == nil {
		return "", "", nil
	}
	return s.profiles.Profile(ctx, u)
}

// checkInviteeExists answers 404 M_NOT_FOUND, naming the user, when an
// invitee has no account here: before the clinic policy is asked (which
// would only say the unknown user has no role) and before anything is
// written. The spec gives no code for it; M_NOT_FOUND ("no resource was
// found for this request") is the standard one, and Synapse answers an
// invite of an unknown local user the same way.
//
// With the clinic policy on, the policy answers instead: whether a user
// exists is for the clinic's staff to learn, not for everyone.
func (s *Service) checkInviteeExists(ctx context.Context, u id.UserID) error {
	if s.profiles == nil || s.gate != nil {
		return nil
	}
	_, _, err := s.profiles.Profile(ctx, u)
	if errors.Is(err, mautrix.MNotFound) {
		return mautrix.MNotFound.WithMessage("User %s does not exist", u)
	}
	return err
}

// memberContent is a member event's content with the target's profile.
func (s *Service) memberContent(ctx context.Context, target id.UserID, membership, reason string) (map[string]any, error) {
	content := map[string]any{"membership": membership}
	if membership == "join" || membership == "invite" {
		name, avatar, err := s.profile(ctx, target)
		if err != nil {
			return nil, err
		}
		if name != "" {
			content["displayname"] = name
		}
		if avatar != "" {
			content["avatar_url"] = avatar
		}
	}
	if reason != "" {
		content["reason"] = reason
	}
	return content, nil
}

// insertAlias records alias → room, refusing an alias in use.
func (s *Service) insertAlias(ctx context.Context, tx *sql.Tx, alias id.RoomAlias, roomID id.RoomID, creator id.UserID) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM room_aliases WHERE alias = $1`, string(alias)).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return mautrix.MRoomInUse.WithMessage("Room alias %s is already in use", alias)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES ($1, $2, $3, $4)`,
		string(alias), string(roomID), string(creator), s.now().UnixMilli())
	if db.IsUniqueViolation(err) {
		return mautrix.MRoomInUse.WithMessage("Room alias %s is already in use", alias)
	}
	return err
}
