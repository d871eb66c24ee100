package clientapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"

	"ward/rooms"
)

// readContent reads an event's content: a JSON object, at most the size of
// a whole event (the domain checks the size of the signed PDU exactly).
func readContent(r *http.Request) (json.RawMessage, error) {
	var content json.RawMessage
	if err := readJSON(r, &content); err != nil {
		return nil, err
	}
	if len(content) > rooms.MaxEventBytes {
		return nil, mautrix.MTooLarge.WithMessage("Event is larger than %d bytes", rooms.MaxEventBytes)
	}
	if len(content) == 0 || content[0] != '{' {
		return nil, mautrix.MBadJSON.WithMessage("Event content must be a JSON object")
	}
	return content, nil
}

// eventTypeVar reads the {eventType} path variable.
func eventTypeVar(r *http.Request) (string, error) {
	t := mux.Vars(r)["eventType"]
	if t == "" || len(t) > 255 || strings.IndexFunc(t, unicode.IsControl) >= 0 {
		return "", mautrix.MInvalidParam.WithMessage("Invalid event type")
	}
	return t, nil
}

// handleState answers GET /rooms/{roomId}/state (spec: client-server-api "Getting events for a room", state).
func (a *API) handleState(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	evs, err := a.Rooms.State(r.Context(), session(r).UserID, roomID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	s := session(r)
	out, err := a.Rooms.NewFormatter(s.UserID, s.DeviceID).Format(r.Context(), evs)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleStateEvent answers GET /rooms/{roomId}/state/{eventType}/{stateKey}
// (spec: client-server-api "Getting events for a room"): the content, or
// with format=event the whole event.
func (a *API) handleStateEvent(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	evType, err := eventTypeVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "content" && format != "event" {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("format must be content or event"))
		return
	}
	s := session(r)
	ev, err := a.Rooms.StateEvent(r.Context(), s.UserID, roomID, evType, mux.Vars(r)["stateKey"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if format != "event" {
		writeJSON(w, http.StatusOK, ev.Content())
		return
	}
	out, err := a.Rooms.NewFormatter(s.UserID, s.DeviceID).Format(r.Context(), []*rooms.Event{ev})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out[0])
}

// handleSetState answers PUT /rooms/{roomId}/state/{eventType}/{stateKey}
// (spec: client-server-api "Sending events to a room", state).
func (a *API) handleSetState(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	evType, err := eventTypeVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	content, err := readContent(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	eventID, err := a.Rooms.SendState(r.Context(), session(r).UserID, roomID, evType, mux.Vars(r)["stateKey"], content)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"event_id": eventID})
}

// handleSend answers PUT /rooms/{roomId}/send/{eventType}/{txnId}
// (spec: client-server-api "Sending events to a room", "Transaction identifiers").
func (a *API) handleSend(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	evType, err := eventTypeVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	content, err := readContent(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	s := session(r)
	eventID, err := a.Rooms.Send(r.Context(), s.UserID, s.DeviceID, roomID, evType, content, mux.Vars(r)["txnId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"event_id": eventID})
}

// handleRedact answers PUT /rooms/{roomId}/redact/{eventId}/{txnId}
// (spec: client-server-api "Redactions").
func (a *API) handleRedact(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	target, err := pathEventID(mux.Vars(r)["eventId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body struct {
		Reason *string `json:"reason,omitempty"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	content, _ := json.Marshal(body)
	s := session(r)
	eventID, err := a.Rooms.Redact(r.Context(), s.UserID, s.DeviceID, roomID, target, content, mux.Vars(r)["txnId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"event_id": eventID})
}

// handleEvent answers GET /rooms/{roomId}/event/{eventId}
// (spec: client-server-api "Getting events for a room", event).
func (a *API) handleEvent(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	eid, err := pathEventID(mux.Vars(r)["eventId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	s := session(r)
	ev, err := a.Rooms.Event(r.Context(), s.UserID, roomID, eid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.Rooms.NewFormatter(s.UserID, s.DeviceID).Format(r.Context(), []*rooms.Event{ev})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out[0])
}
