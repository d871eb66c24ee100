package clientapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// aliasVar reads and checks the {roomAlias} path variable.
func aliasVar(r *http.Request) (id.RoomAlias, error) {
	raw := mux.Vars(r)["roomAlias"]
	if !strings.HasPrefix(raw, "#") || !strings.Contains(raw, ":") || len(raw) > 255 {
		return "", mautrix.MInvalidParam.WithMessage("Invalid room alias %q", raw)
	}
	return id.RoomAlias(raw), nil
}

// handleGetAlias answers GET /directory/room/{roomAlias} (spec: client-server-api "Room aliases").
func (a *API) handleGetAlias(w http.ResponseWriter, r *http.Request) {
	alias, err := aliasVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	roomID, err := a.Rooms.LookupAlias(r.Context(), alias)
	if err == nil {
		var shown bool
		if shown, err = a.directoryShows(r, roomID); err == nil && !shown {
			err = mautrix.MNotFound.WithMessage("Room alias %s not found", alias)
		}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "servers": []string{a.Rooms.ServerName()}})
}

// handleSetAlias answers PUT /directory/room/{roomAlias} (spec: client-server-api "Room aliases").
func (a *API) handleSetAlias(w http.ResponseWriter, r *http.Request) {
	alias, err := aliasVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body struct {
		RoomID *string `json:"room_id"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if body.RoomID == nil {
		a.writeError(w, r, mautrix.MBadJSON.WithMessage("The room_id field is required"))
		return
	}
	if !storable(*body.RoomID) {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("Invalid room ID"))
		return
	}
	roomID, err := pathRoomID(*body.RoomID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Rooms.SetAlias(r.Context(), session(r).UserID, alias, roomID); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleDeleteAlias answers DELETE /directory/room/{roomAlias} (spec: client-server-api "Room aliases").
func (a *API) handleDeleteAlias(w http.ResponseWriter, r *http.Request) {
	alias, err := aliasVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Rooms.DeleteAlias(r.Context(), session(r).UserID, alias); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleAliases answers GET /rooms/{roomId}/aliases (spec: client-server-api "Room aliases").
func (a *API) handleAliases(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	aliases, err := a.Rooms.Aliases(r.Context(), session(r).UserID, roomID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"aliases": aliases})
}

// directoryShows reports whether the directory (alias resolution, a
// room's listing) may tell the caller about a room. With the clinic policy
// on, the directory is for the people who may see /publicRooms, clinicians
// and admins; anyone else (patients, office staff, bots, people without a
// role, callers without a token) hears only of rooms they are joined or
// invited to, and of any other room as of one that does not exist.
func (a *API) directoryShows(r *http.Request, roomID id.RoomID) (bool, error) {
	if a.Policy == nil {
		return true, nil
	}
	user := session(r).UserID
	if user == "" {
		return false, nil
	}
	ok, err := a.Policy.MayListPublicRooms(r.Context(), user)
	if err != nil || ok {
		return ok, err
	}
	m, err := a.Rooms.CurrentMembership(r.Context(), user, roomID)
	return m == "join" || m == "invite", err
}

// handleGetVisibility answers GET /directory/list/room/{roomId}
// (spec: client-server-api "Listing rooms"); it needs no access token, but
// with the clinic policy on only a logged-in directory user learns of
// rooms they are not in (see directoryShows).
func (a *API) handleGetVisibility(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	public, err := a.Rooms.Published(r.Context(), roomID)
	if err == nil {
		var shown bool
		if shown, err = a.directoryShows(r, roomID); err == nil && !shown {
			err = mautrix.MNotFound.WithMessage("Room not found")
		}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	vis := "private"
	if public {
		vis = "public"
	}
	writeJSON(w, http.StatusOK, map[string]any{"visibility": vis})
}

// handleSetVisibility answers PUT /directory/list/room/{roomId}
// (spec: client-server-api "Listing rooms").
func (a *API) handleSetVisibility(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body struct {
		Visibility string `json:"visibility"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if body.Visibility != "public" && body.Visibility != "private" {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("visibility must be public or private"))
		return
	}
	if err := a.Rooms.SetPublished(r.Context(), session(r).UserID, roomID, body.Visibility == "public"); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// publicRoomsRequest is the POST /publicRooms body (and, for GET, the
// query parameters limit and since).
type publicRoomsRequest struct {
	Limit  int    `json:"limit"`
	Since  string `json:"since"`
	Filter struct {
		GenericSearchTerm string `json:"generic_search_term"`
	} `json:"filter"`
}

// sinceOffset parses a public rooms pagination token: "p<offset>".
func sinceOffset(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(tok, "p"))
	if !strings.HasPrefix(tok, "p") || err != nil || n < 0 {
		return 0, mautrix.MInvalidParam.WithMessage("Invalid since token %q", tok)
	}
	return n, nil
}

// handlePublicRooms answers GET and POST /publicRooms (spec: client-server-api "Listing rooms").
func (a *API) handlePublicRooms(w http.ResponseWriter, r *http.Request) {
	var req publicRoomsRequest
	if r.Method == http.MethodPost {
		if err := readJSON(r, &req); err != nil {
			a.writeError(w, r, err)
			return
		}
	} else {
		var err error
		if req.Limit, err = intParam(r, "limit", 0); err != nil {
			a.writeError(w, r, err)
			return
		}
		req.Since = r.URL.Query().Get("since")
	}
	offset, err := sinceOffset(req.Since)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Limit < 0 {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("limit must not be negative"))
		return
	}
	if a.Policy != nil {
		// Public rooms are for clinicians and admins: to anyone else the
		// directory is empty.
		ok, err := a.Policy.MayListPublicRooms(r.Context(), session(r).UserID)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if !ok {
			writeJSON(w, http.StatusOK, map[string]any{"chunk": []any{}, "total_room_count_estimate": 0})
			return
		}
	}
	chunk, total, err := a.Rooms.PublicRooms(r.Context(), offset, req.Limit, req.Filter.GenericSearchTerm)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	resp := map[string]any{"chunk": chunk, "total_room_count_estimate": total}
	if next := offset + len(chunk); next < total {
		resp["next_batch"] = "p" + strconv.Itoa(next)
	}
	if offset > 0 {
		resp["prev_batch"] = "p" + strconv.Itoa(max(offset-max(req.Limit, len(chunk)), 0))
	}
	writeJSON(w, http.StatusOK, resp)
}
