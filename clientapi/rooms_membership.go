package clientapi

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/stream"
	"ward/rooms"
)

// roomVar reads and checks the {roomId} path variable.
func roomVar(r *http.Request) (id.RoomID, error) {
	raw := mux.Vars(r)["roomId"]
	if !storable(raw) {
		return "", mautrix.MInvalidParam.WithMessage("Invalid room ID")
	}
	return pathRoomID(raw)
}

// storable reports whether a string from a path can be stored and encoded:
// valid UTF-8 without NUL (PostgreSQL text and JSON encoding refuse others).
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// textVar reads a free-form path variable (event type, state key, txnId).
func textVar(r *http.Request, name string) (string, error) {
	v := mux.Vars(r)[name]
	if !storable(v) || len(v) > 255 {
		return "", mautrix.MInvalidParam.WithMessage("Invalid %s", name)
	}
	return v, nil
}

// checkedVars refuses requests whose path variables could not be stored
// (spec: event types, state keys and IDs are at most 255 bytes of UTF-8).
func (a *API) checkedVars(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for name := range mux.Vars(r) {
			if _, err := textVar(r, name); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		h(w, r)
	}
}

// pathEventID reads an event ID from a path variable, checking its form.
func pathEventID(raw string) (id.EventID, error) {
	if len(raw) < 2 || raw[0] != '$' || len(raw) > 255 || !storable(raw) {
		return "", mautrix.MInvalidParam.WithMessage("Invalid event ID %q", raw)
	}
	return id.EventID(raw), nil
}

// bodyUserID checks a user ID given in a request body.
func bodyUserID(raw *string) (id.UserID, error) {
	if raw == nil || *raw == "" {
		return "", mautrix.MBadJSON.WithMessage("The user_id field is required")
	}
	if !storable(*raw) {
		return "", mautrix.MInvalidParam.WithMessage("Invalid user ID")
	}
	return pathUserID(*raw)
}

// handleCreateRoom answers POST /createRoom (spec: client-server-api "Creation").
func (a *API) handleCreateRoom(w http.ResponseWriter, r *http.Request) {
	var req rooms.CreateRequest
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	roomID, err := a.Rooms.CreateRoom(r.Context(), session(r).UserID, req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room_id": roomID})
}

// reasonBody is the body of join and leave.
type reasonBody struct {
	Reason string `json:"reason"`
}

// handleJoin answers POST /join/{roomIdOrAlias} and POST /rooms/{roomId}/join
// (spec: client-server-api "Joining rooms").
func (a *API) handleJoin(w http.ResponseWriter, r *http.Request) {
	target := mux.Vars(r)["roomIdOrAlias"]
	if raw, ok := mux.Vars(r)["roomId"]; ok {
		rid, err := pathRoomID(raw)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		target = string(rid)
	}
	var body reasonBody
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if strings.HasPrefix(target, "#") {
		// An alias is a guessable name: whoever may not use the directory
		// hears of a room behind it only when invited to it or in it, as
		// alias resolution answers them; anything else is no known room.
		roomID, err := a.Rooms.ResolveRoom(r.Context(), target)
		var shown bool
		if err == nil {
			shown, err = a.directoryShows(r, roomID)
		}
		if errors.Is(err, mautrix.MNotFound) || (err == nil && !shown) {
			err = mautrix.MNotFound.WithMessage("No known room %s", target)
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		target = string(roomID)
	}
	roomID, err := a.Rooms.Join(r.Context(), session(r).UserID, target, body.Reason)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room_id": roomID})
}

// targetBody is the body of invite, kick, ban and unban.
type targetBody struct {
	UserID *string `json:"user_id"`
	Reason string  `json:"reason"`
}

// targeted decodes the room and the body of a membership change aimed at
// another user and runs change.
func (a *API) targeted(w http.ResponseWriter, r *http.Request, change func(sender, target id.UserID, roomID id.RoomID, reason string) error) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body targetBody
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	target, err := bodyUserID(body.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := change(session(r).UserID, target, roomID, body.Reason); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleInvite answers POST /rooms/{roomId}/invite (spec: client-server-api "Room membership", invite).
func (a *API) handleInvite(w http.ResponseWriter, r *http.Request) {
	a.targeted(w, r, func(sender, target id.UserID, roomID id.RoomID, reason string) error {
		return a.Rooms.Invite(r.Context(), sender, target, roomID, reason)
	})
}

// handleKick answers POST /rooms/{roomId}/kick (spec: client-server-api "Leaving rooms", kick).
func (a *API) handleKick(w http.ResponseWriter, r *http.Request) {
	a.targeted(w, r, func(sender, target id.UserID, roomID id.RoomID, reason string) error {
		return a.Rooms.Kick(r.Context(), sender, target, roomID, reason)
	})
}

// handleBan answers POST /rooms/{roomId}/ban (spec: client-server-api "Banning users in a room").
func (a *API) handleBan(w http.ResponseWriter, r *http.Request) {
	a.targeted(w, r, func(sender, target id.UserID, roomID id.RoomID, reason string) error {
		return a.Rooms.Ban(r.Context(), sender, target, roomID, reason)
	})
}

// handleUnban answers POST /rooms/{roomId}/unban (spec: client-server-api "Banning users in a room").
func (a *API) handleUnban(w http.ResponseWriter, r *http.Request) {
	a.targeted(w, r, func(sender, target id.UserID, roomID id.RoomID, reason string) error {
		return a.Rooms.Unban(r.Context(), sender, target, roomID, reason)
	})
}

// handleLeave answers POST /rooms/{roomId}/leave (spec: client-server-api "Leaving rooms").
func (a *API) handleLeave(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body reasonBody
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Rooms.Leave(r.Context(), session(r).UserID, roomID, body.Reason); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleForget answers POST /rooms/{roomId}/forget (spec: client-server-api "Leaving rooms", forget).
func (a *API) handleForget(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Rooms.Forget(r.Context(), session(r).UserID, roomID); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleJoinedRooms answers GET /joined_rooms (spec: client-server-api "Room membership").
func (a *API) handleJoinedRooms(w http.ResponseWriter, r *http.Request) {
	ids, err := a.Rooms.JoinedRooms(r.Context(), session(r).UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"joined_rooms": ids})
}

// membershipParam checks a membership query parameter.
func membershipParam(r *http.Request, name string) (string, error) {
	m := r.URL.Query().Get(name)
	switch m {
	case "", "join", "invite", "knock", "leave", "ban":
		return m, nil
	}
	return "", mautrix.MInvalidParam.WithMessage("Invalid %s %q", name, m)
}

// handleMembers answers GET /rooms/{roomId}/members (spec: client-server-api "Room membership", members).
func (a *API) handleMembers(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var at stream.Position
	if tok := r.URL.Query().Get("at"); tok != "" {
		if at, err = parseToken(tok); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	membership, err := membershipParam(r, "membership")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	notMembership, err := membershipParam(r, "not_membership")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	s := session(r)
	evs, err := a.Rooms.Members(r.Context(), s.UserID, roomID, at, membership, notMembership)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeEvents(w, r, map[string]any{}, "chunk", evs)
}

// handleJoinedMembers answers GET /rooms/{roomId}/joined_members
// (spec: client-server-api "Room membership", joined_members).
func (a *API) handleJoinedMembers(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	evs, err := a.Rooms.Members(r.Context(), session(r).UserID, roomID, 0, "join", "")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	type member struct {
		DisplayName *string `json:"display_name,omitempty"`
		AvatarURL   *string `json:"avatar_url,omitempty"`
	}
	joined := map[string]member{}
	for _, e := range evs {
		var m member
		c := gjson.ParseBytes(e.Content())
		if v := c.Get("displayname"); v.Type == gjson.String {
			m.DisplayName = &v.Str
		}
		if v := c.Get("avatar_url"); v.Type == gjson.String {
			m.AvatarURL = &v.Str
		}
		joined[*e.StateKey] = m
	}
	writeJSON(w, http.StatusOK, map[string]any{"joined": joined})
}

// writeEvents formats evs for the caller, stores them under key in resp
// and writes resp.
func (a *API) writeEvents(w http.ResponseWriter, r *http.Request, resp map[string]any, key string, evs []*rooms.Event) {
	s := session(r)
	out, err := a.Rooms.NewFormatter(s.UserID, s.DeviceID).Format(r.Context(), evs)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	resp[key] = out
	writeJSON(w, http.StatusOK, resp)
}
