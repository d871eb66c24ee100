package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/accounts"
	"ward/e2ee"
	"ward/syncapi"
)

// e2eeRoutes registers the end-to-end encryption key endpoints and
// send-to-device.
func (a *API) e2eeRoutes(r *mux.Router) {
	if a.E2EE == nil {
		return
	}
	r.HandleFunc("/keys/upload", a.auth(a.handleKeysUpload)).Methods(http.MethodPost)
	r.HandleFunc("/keys/query", a.auth(a.handleKeysQuery)).Methods(http.MethodPost)
	r.HandleFunc("/keys/claim", a.auth(a.handleKeysClaim)).Methods(http.MethodPost)
	r.HandleFunc("/keys/changes", a.auth(a.handleKeysChanges)).Methods(http.MethodGet)
	r.HandleFunc("/keys/device_signing/upload", a.auth(a.handleDeviceSigningUpload)).Methods(http.MethodPost)
	r.HandleFunc("/keys/signatures/upload", a.auth(a.handleSignaturesUpload)).Methods(http.MethodPost)
	r.HandleFunc("/sendToDevice/{eventType}/{txnId}", a.auth(a.handleSendToDevice)).Methods(http.MethodPut)
	a.e2eeBackupRoutes(r)
}

// handleKeysUpload answers POST /keys/upload.
func (a *API) handleKeysUpload(w http.ResponseWriter, r *http.Request) {
	sess := session(r)
	var req e2ee.UploadRequest
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	counts, err := a.E2EE.UploadKeys(r.Context(), sess.UserID, sess.DeviceID, req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"one_time_key_counts": counts})
}

// handleKeysQuery answers POST /keys/query.
func (a *API) handleKeysQuery(w http.ResponseWriter, r *http.Request) {
	var req e2ee.QueryRequest
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	resp, err := a.E2EE.QueryKeys(r.Context(), session(r).UserID, req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleKeysClaim answers POST /keys/claim.
func (a *API) handleKeysClaim(w http.ResponseWriter, r *http.Request) {
	var req e2ee.ClaimRequest
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	resp, err := a.E2EE.ClaimKeys(r.Context(), session(r).UserID, req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleKeysChanges answers GET /keys/changes?from=&to= (sync tokens).
func (a *API) handleKeysChanges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("from") == "" || q.Get("to") == "" {
		a.writeError(w, r, mautrix.RespError{ErrCode: "M_MISSING_PARAM", Err: "from and to are required", StatusCode: http.StatusBadRequest})
		return
	}
	from, err := syncapi.ParseToken(q.Get("from"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	to, err := syncapi.ParseToken(q.Get("to"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	changed, left, err := a.E2EE.DeviceListChanges(r.Context(), session(r).UserID, from.Pos, to.Pos)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"changed": changed, "left": left})
}

// handleSendToDevice answers PUT /sendToDevice/{eventType}/{txnId}.
func (a *API) handleSendToDevice(w http.ResponseWriter, r *http.Request) {
	sess := session(r)
	vars := mux.Vars(r)
	var req struct {
		Messages map[id.UserID]map[string]json.RawMessage `json:"messages"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.E2EE.SendToDevice(r.Context(), sess.UserID, sess.DeviceID, vars["eventType"], vars["txnId"], req.Messages); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleDeviceSigningUpload answers POST /keys/device_signing/upload.
//
// The first upload of a user's cross-signing keys needs no further
// authentication (as Synapse and the spec's note on first-time setup
// allow). Replacing existing keys needs User-Interactive Auth with the
// user's password.
func (a *API) handleDeviceSigningUpload(w http.ResponseWriter, r *http.Request) {
	sess := session(r)
	var req struct {
		e2ee.CrossSigningRequest
		Auth *accounts.AuthData `json:"auth"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	err := a.E2EE.UploadCrossSigningKeys(r.Context(), sess.UserID, req.CrossSigningRequest, false)
	if errors.Is(err, e2ee.ErrAuthNeeded) {
		if err := a.Accounts.RequirePassword(r.Context(), sess, req.Auth, "device_signing_upload"); err != nil {
			a.writeAccountsError(w, r, err)
			return
		}
		err = a.E2EE.UploadCrossSigningKeys(r.Context(), sess.UserID, req.CrossSigningRequest, true)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleSignaturesUpload answers POST /keys/signatures/upload.
func (a *API) handleSignaturesUpload(w http.ResponseWriter, r *http.Request) {
	var req map[id.UserID]map[string]json.RawMessage
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	failures, err := a.E2EE.UploadSignatures(r.Context(), session(r).UserID, req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"failures": failures})
}
