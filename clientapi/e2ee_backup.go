package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"

	"ward/e2ee"
)

// e2eeBackupRoutes registers the server-side key backup endpoints.
func (a *API) e2eeBackupRoutes(r *mux.Router) {
	r.HandleFunc("/room_keys/version", a.auth(a.handleBackupVersionCreate)).Methods(http.MethodPost)
	r.HandleFunc("/room_keys/version", a.auth(a.handleBackupVersionGet)).Methods(http.MethodGet)
	r.HandleFunc("/room_keys/version/{version}", a.auth(a.checkedVars(a.handleBackupVersionGet))).Methods(http.MethodGet)
	r.HandleFunc("/room_keys/version/{version}", a.auth(a.checkedVars(a.handleBackupVersionUpdate))).Methods(http.MethodPut)
	r.HandleFunc("/room_keys/version/{version}", a.auth(a.checkedVars(a.handleBackupVersionDelete))).Methods(http.MethodDelete)
	for _, path := range []string{"/room_keys/keys", "/room_keys/keys/{roomId}", "/room_keys/keys/{roomId}/{sessionId}"} {
		r.HandleFunc(path, a.auth(a.checkedVars(a.handleBackupKeysPut))).Methods(http.MethodPut)
		r.HandleFunc(path, a.auth(a.checkedVars(a.handleBackupKeysGet))).Methods(http.MethodGet)
		r.HandleFunc(path, a.auth(a.checkedVars(a.handleBackupKeysDelete))).Methods(http.MethodDelete)
	}
}

// handleBackupVersionCreate answers POST /room_keys/version.
func (a *API) handleBackupVersionCreate(w http.ResponseWriter, r *http.Request) {
	var req e2ee.BackupVersion
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	v, err := a.E2EE.CreateBackupVersion(r.Context(), session(r).UserID, req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"version": v})
}

// handleBackupVersionGet answers GET /room_keys/version and GET
// /room_keys/version/{version}.
func (a *API) handleBackupVersionGet(w http.ResponseWriter, r *http.Request) {
	v, err := a.E2EE.GetBackupVersion(r.Context(), session(r).UserID, mux.Vars(r)["version"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// handleBackupVersionUpdate answers PUT /room_keys/version/{version}.
func (a *API) handleBackupVersionUpdate(w http.ResponseWriter, r *http.Request) {
	var req e2ee.BackupVersion
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.E2EE.UpdateBackupVersion(r.Context(), session(r).UserID, mux.Vars(r)["version"], req); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleBackupVersionDelete answers DELETE /room_keys/version/{version}.
func (a *API) handleBackupVersionDelete(w http.ResponseWriter, r *http.Request) {
	if err := a.E2EE.DeleteBackupVersion(r.Context(), session(r).UserID, mux.Vars(r)["version"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// backupQuery reads the required version query parameter and the room and
// session path variables.
func backupQuery(r *http.Request) (version, room, sess string, err error) {
	version = r.URL.Query().Get("version")
	if version == "" {
		return "", "", "", mautrix.RespError{ErrCode: "M_MISSING_PARAM", Err: "The version query parameter is required", StatusCode: http.StatusBadRequest}
	}
	vars := mux.Vars(r)
	return version, vars["roomId"], vars["sessionId"], nil
}

// handleBackupKeysPut answers PUT /room_keys/keys[/{roomId}[/{sessionId}]]:
// the body is {"rooms": ...}, a room's {"sessions": ...} or one key.
func (a *API) handleBackupKeysPut(w http.ResponseWriter, r *http.Request) {
	version, room, sess, err := backupQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var rooms map[string]e2ee.RoomBackup
	switch {
	case sess != "":
		var key e2ee.BackupKey
		err = readJSON(r, &key)
		rooms = map[string]e2ee.RoomBackup{room: {Sessions: map[string]*e2ee.BackupKey{sess: &key}}}
	case room != "":
		var rb e2ee.RoomBackup
		err = readJSON(r, &rb)
		rooms = map[string]e2ee.RoomBackup{room: rb}
	default:
		var body struct {
			Rooms map[string]e2ee.RoomBackup `json:"rooms"`
		}
		err = readJSON(r, &body)
		rooms = body.Rooms
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	resp, err := a.E2EE.PutBackupKeys(r.Context(), session(r).UserID, version, rooms)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleBackupKeysGet answers GET /room_keys/keys[/{roomId}[/{sessionId}]].
func (a *API) handleBackupKeysGet(w http.ResponseWriter, r *http.Request) {
	version, room, sess, err := backupQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rooms, err := a.E2EE.GetBackupKeys(r.Context(), session(r).UserID, version, room, sess)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	switch {
	case sess != "":
		key := rooms[room].Sessions[sess]
		if key == nil {
			a.writeError(w, r, mautrix.MNotFound.WithMessage("Key not found"))
			return
		}
		writeJSON(w, http.StatusOK, key)
	case room != "":
		rb := rooms[room]
		if rb.Sessions == nil {
			rb.Sessions = map[string]*e2ee.BackupKey{}
		}
		writeJSON(w, http.StatusOK, rb)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"rooms": rooms})
	}
}

// handleBackupKeysDelete answers DELETE /room_keys/keys[/{roomId}[/{sessionId}]].
func (a *API) handleBackupKeysDelete(w http.ResponseWriter, r *http.Request) {
	version, room, sess, err := backupQuery(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	resp, err := a.E2EE.DeleteBackupKeys(r.Context(), session(r).UserID, version, room, sess)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
