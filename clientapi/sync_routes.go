package clientapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/syncapi"
)

// syncRoutes registers /sync, typing, receipts and read markers.
func (a *API) syncRoutes(r *mux.Router) {
	r.HandleFunc("/sync", a.auth(a.handleSync)).Methods(http.MethodGet)
	r.HandleFunc("/rooms/{roomId}/typing/{userId}", a.auth(a.handleTyping)).Methods(http.MethodPut)
	r.HandleFunc("/rooms/{roomId}/receipt/{receiptType}/{eventId}", a.auth(a.handleReceipt)).Methods(http.MethodPost)
	r.HandleFunc("/user_directory/search", a.auth(a.handleUserDirectorySearch)).Methods(http.MethodPost)
	r.HandleFunc("/rooms/{roomId}/read_markers", a.auth(a.handleReadMarkers)).Methods(http.MethodPost)
}

// maxSyncTimeout bounds a long-poll, whatever the client asks.
const maxSyncTimeout = 5 * time.Minute

// handleSync answers GET /sync (spec: client-server-api "Syncing").
func (a *API) handleSync(w http.ResponseWriter, r *http.Request) {
	sess := session(r)
	q := r.URL.Query()
	req := syncapi.Request{User: sess.UserID, Device: sess.DeviceID, FullState: q.Get("full_state") == "true"}
	if s := q.Get("since"); s != "" {
		tok, err := syncapi.ParseToken(s)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		req.Since = &tok
	}
	if t := q.Get("timeout"); t != "" {
		ms, err := strconv.ParseInt(t, 10, 64)
		if err != nil || ms < 0 {
			a.writeError(w, r, mautrix.MInvalidParam.WithMessage("timeout must be a non-negative integer of milliseconds"))
			return
		}
		req.Timeout = min(time.Duration(ms)*time.Millisecond, maxSyncTimeout)
	}
	if sp := q.Get("set_presence"); sp != "" && sp != "online" && sp != "offline" && sp != "unavailable" {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("set_presence must be online, offline or unavailable"))
		return
	}
	f, err := a.Sync.LoadFilter(r.Context(), sess.UserID, q.Get("filter"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	req.Filter = f
	resp, err := a.Sync.Sync(r.Context(), req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleTyping answers PUT /rooms/{roomId}/typing/{userId} (spec: "Typing Notifications").
func (a *API) handleTyping(w http.ResponseWriter, r *http.Request) {
	sess := session(r)
	vars := mux.Vars(r)
	roomID, err := pathRoomID(vars["roomId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if id.UserID(vars["userId"]) != sess.UserID {
		a.writeError(w, r, mautrix.MForbidden.WithMessage("You may only set your own typing state"))
		return
	}
	var body struct {
		Typing  *bool `json:"typing"`
		Timeout int64 `json:"timeout"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if body.Typing == nil {
		a.writeError(w, r, mautrix.MBadJSON.WithMessage("typing is required"))
		return
	}
	if err := a.Rooms.SetTyping(r.Context(), sess.UserID, roomID, *body.Typing, time.Duration(body.Timeout)*time.Millisecond); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

var receiptTypes = map[string]bool{"m.read": true, "m.read.private": true, "m.fully_read": true}

// handleReceipt answers POST /rooms/{roomId}/receipt/{receiptType}/{eventId} (spec: "Receipts").
func (a *API) handleReceipt(w http.ResponseWriter, r *http.Request) {
	sess := session(r)
	vars := mux.Vars(r)
	roomID, err := pathRoomID(vars["roomId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rt := vars["receiptType"]
	if !receiptTypes[rt] {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("Unknown receipt type %q", rt))
		return
	}
	var body struct {
		ThreadID string `json:"thread_id"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	eid := id.EventID(vars["eventId"])
	if rt == "m.fully_read" {
		err = a.setFullyRead(r, sess.UserID, roomID, eid)
	} else {
		err = a.Rooms.SetReceipt(r.Context(), sess.UserID, roomID, rt, eid, body.ThreadID)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleReadMarkers answers POST /rooms/{roomId}/read_markers (spec: "Read and unread markers").
func (a *API) handleReadMarkers(w http.ResponseWriter, r *http.Request) {
	sess := session(r)
	roomID, err := pathRoomID(mux.Vars(r)["roomId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body struct {
		FullyRead   id.EventID `json:"m.fully_read"`
		Read        id.EventID `json:"m.read"`
		ReadPrivate id.EventID `json:"m.read.private"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if body.FullyRead != "" {
		if err := a.setFullyRead(r, sess.UserID, roomID, body.FullyRead); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	for rt, eid := range map[string]id.EventID{"m.read": body.Read, "m.read.private": body.ReadPrivate} {
		if eid == "" {
			continue
		}
		if err := a.Rooms.SetReceipt(r.Context(), sess.UserID, roomID, rt, eid, ""); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// setFullyRead moves the m.fully_read marker, kept as room account data,
// after checking the user may see the event.
func (a *API) setFullyRead(r *http.Request, user id.UserID, roomID id.RoomID, eid id.EventID) error {
	if _, err := a.Rooms.Event(r.Context(), user, roomID, eid); err != nil {
		return err
	}
	return a.Accounts.SetFullyRead(r.Context(), user, roomID, eid)
}
