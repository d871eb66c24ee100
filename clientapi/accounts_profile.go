package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// profileAuth guards profile look-ups: open as the spec allows while the
// clinic policy is off; with it on, the requester must be logged in
// (the spec lets servers require it) and may see only people they may reach.
func (a *API) profileAuth(h http.HandlerFunc) http.HandlerFunc {
	if a.Policy == nil {
		return h
	}
	return a.auth(h)
}

func (a *API) profileOf(w http.ResponseWriter, r *http.Request) (id.UserID, string, string, bool) {
	uid, err := pathUserID(mux.Vars(r)["userId"])
	if err != nil {
		a.writeError(w, r, err)
		return "", "", "", false
	}
	if a.Policy != nil {
		me := session(r).UserID
		ok, err := a.Policy.Reachable(r.Context(), me, []id.UserID{uid})
		if err != nil {
			a.writeError(w, r, err)
			return "", "", "", false
		}
		if !ok[uid] {
			// Someone the requester may not reach does not exist for them.
			a.writeError(w, r, mautrix.MNotFound.WithMessage("Profile not found"))
			return "", "", "", false
		}
	}
	name, avatar, err := a.Accounts.Profile(r.Context(), uid)
	if err != nil {
		a.writeError(w, r, err)
		return "", "", "", false
	}
	return uid, name, avatar, true
}

// handleProfile answers GET /profile/{userId}.
// Spec: client-server-api "Profiles", GET /_matrix/client/v3/profile/{userId}.
func (a *API) handleProfile(w http.ResponseWriter, r *http.Request) {
	_, name, avatar, ok := a.profileOf(w, r)
	if !ok {
		return
	}
	out := map[string]string{}
	if name != "" {
		out["displayname"] = name
	}
	if avatar != "" {
		out["avatar_url"] = avatar
	}
	writeJSON(w, http.StatusOK, out)
}

// handleDisplayName answers GET /profile/{userId}/displayname.
// Spec: client-server-api GET /_matrix/client/v3/profile/{userId}/displayname
// (404 when unset or the user does not exist).
func (a *API) handleDisplayName(w http.ResponseWriter, r *http.Request) {
	_, name, _, ok := a.profileOf(w, r)
	if !ok {
		return
	}
	if name == "" {
		a.writeError(w, r, mautrix.MNotFound.WithMessage("No display name set"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"displayname": name})
}

// handleAvatarURL answers GET /profile/{userId}/avatar_url.
// Spec: client-server-api GET /_matrix/client/v3/profile/{userId}/avatar_url.
func (a *API) handleAvatarURL(w http.ResponseWriter, r *http.Request) {
	_, _, avatar, ok := a.profileOf(w, r)
	if !ok {
		return
	}
	if avatar == "" {
		a.writeError(w, r, mautrix.MNotFound.WithMessage("No avatar set"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"avatar_url": avatar})
}

// handleSetDisplayName answers PUT /profile/{userId}/displayname.
// Spec: client-server-api PUT /_matrix/client/v3/profile/{userId}/displayname.
func (a *API) handleSetDisplayName(w http.ResponseWriter, r *http.Request) {
	uid, err := pathUserID(mux.Vars(r)["userId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	name, err := readProfileField(r, "displayname")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Accounts.SetDisplayName(r.Context(), session(r), uid, name); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.profileChanged(r, uid)
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleSetAvatarURL answers PUT /profile/{userId}/avatar_url.
// Spec: client-server-api PUT /_matrix/client/v3/profile/{userId}/avatar_url.
func (a *API) handleSetAvatarURL(w http.ResponseWriter, r *http.Request) {
	uid, err := pathUserID(mux.Vars(r)["userId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	avatar, err := readProfileField(r, "avatar_url")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Accounts.SetAvatarURL(r.Context(), session(r), uid, avatar); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.profileChanged(r, uid)
	writeJSON(w, http.StatusOK, struct{}{})
}

// readProfileField reads the body of PUT /profile/{userId}/{keyName}: an
// object whose key property is a string ("" clears the field). A body
// without the property is 400 M_MISSING_PARAM, as the spec (v1.19,
// "Profiles") says, rather than a request to clear the field; a null or
// non-string value is 400 M_INVALID_PARAM (the spec lets servers reject
// null, which clients are told to express with DELETE).
func readProfileField(r *http.Request, key string) (string, error) {
	var body map[string]json.RawMessage
	if err := readJSON(r, &body); err != nil {
		return "", err
	}
	raw, ok := body[key]
	if !ok {
		return "", errMissingParam(key)
	}
	var v *string
	if err := json.Unmarshal(raw, &v); err != nil || v == nil {
		return "", mautrix.MInvalidParam.WithMessage("%s must be a string", key)
	}
	return *v, nil
}

// profileChanged tells the rooms package (when hooked) so that member
// events follow the new profile.
func (a *API) profileChanged(r *http.Request, uid id.UserID) {
	if a.Accounts.OnProfileChange != nil {
		a.Accounts.OnProfileChange(r.Context(), uid)
	}
}

// accountDataTarget reads {userId}, optional {roomId} and {type}.
func (a *API) accountDataTarget(w http.ResponseWriter, r *http.Request) (id.UserID, id.RoomID, string, bool) {
	v := mux.Vars(r)
	uid, err := pathUserID(v["userId"])
	if err != nil {
		a.writeError(w, r, err)
		return "", "", "", false
	}
	var room id.RoomID
	if raw, ok := v["roomId"]; ok {
		if room, err = pathRoomID(raw); err != nil {
			a.writeError(w, r, err)
			return "", "", "", false
		}
	}
	return uid, room, v["type"], true
}

// handleGetAccountData answers GET /user/{userId}/account_data/{type} and
// GET /user/{userId}/rooms/{roomId}/account_data/{type}.
// Spec: client-server-api "Client Config".
func (a *API) handleGetAccountData(w http.ResponseWriter, r *http.Request) {
	uid, room, typ, ok := a.accountDataTarget(w, r)
	if !ok {
		return
	}
	content, err := a.Accounts.AccountData(r.Context(), session(r), uid, room, typ)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, content)
}

// handleSetAccountData answers PUT /user/{userId}/account_data/{type} and
// PUT /user/{userId}/rooms/{roomId}/account_data/{type}.
// Spec: client-server-api "Client Config".
func (a *API) handleSetAccountData(w http.ResponseWriter, r *http.Request) {
	uid, room, typ, ok := a.accountDataTarget(w, r)
	if !ok {
		return
	}
	var content json.RawMessage
	if err := readJSON(r, &content); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Accounts.SetAccountData(r.Context(), session(r), uid, room, typ, content); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleTags answers GET /user/{userId}/rooms/{roomId}/tags.
// Spec: client-server-api "Room Tagging".
func (a *API) handleTags(w http.ResponseWriter, r *http.Request) {
	uid, room, _, ok := a.accountDataTarget(w, r)
	if !ok {
		return
	}
	tags, err := a.Accounts.Tags(r.Context(), session(r), uid, room)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": tags})
}

// handleSetTag answers PUT /user/{userId}/rooms/{roomId}/tags/{tag}.
// Spec: client-server-api "Room Tagging".
func (a *API) handleSetTag(w http.ResponseWriter, r *http.Request) {
	uid, room, _, ok := a.accountDataTarget(w, r)
	if !ok {
		return
	}
	var content json.RawMessage
	if err := readJSON(r, &content); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Accounts.SetTag(r.Context(), session(r), uid, room, mux.Vars(r)["tag"], content); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleDeleteTag answers DELETE /user/{userId}/rooms/{roomId}/tags/{tag}.
// Spec: client-server-api "Room Tagging".
func (a *API) handleDeleteTag(w http.ResponseWriter, r *http.Request) {
	uid, room, _, ok := a.accountDataTarget(w, r)
	if !ok {
		return
	}
	if err := a.Accounts.DeleteTag(r.Context(), session(r), uid, room, mux.Vars(r)["tag"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleCreateFilter answers POST /user/{userId}/filter.
// Spec: client-server-api "Filtering", POST /_matrix/client/v3/user/{userId}/filter.
func (a *API) handleCreateFilter(w http.ResponseWriter, r *http.Request) {
	uid, err := pathUserID(mux.Vars(r)["userId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var raw json.RawMessage
	if err := readJSON(r, &raw); err != nil {
		a.writeError(w, r, err)
		return
	}
	fid, err := a.Accounts.CreateFilter(r.Context(), session(r), uid, raw)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"filter_id": fid})
}

// handleGetFilter answers GET /user/{userId}/filter/{filterId}.
// Spec: client-server-api "Filtering", GET /_matrix/client/v3/user/{userId}/filter/{filterId}.
func (a *API) handleGetFilter(w http.ResponseWriter, r *http.Request) {
	uid, err := pathUserID(mux.Vars(r)["userId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if uid != session(r).UserID {
		a.writeError(w, r, mautrix.MForbidden.WithMessage("Cannot get filters of other users"))
		return
	}
	raw, err := a.Accounts.Filter(r.Context(), uid, mux.Vars(r)["filterId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, raw)
}
