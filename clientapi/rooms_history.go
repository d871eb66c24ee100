package clientapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/accounts"
	"ward/internal/stream"
	"ward/rooms"
)

// roomEventFilter is the RoomEventFilter clients pass as JSON in the filter
// query parameter (spec: client-server-api "Filtering", RoomEventFilter).
type roomEventFilter struct {
	Types           []string    `json:"types"`
	NotTypes        []string    `json:"not_types"`
	Senders         []id.UserID `json:"senders"`
	NotSenders      []id.UserID `json:"not_senders"`
	ContainsURL     *bool       `json:"contains_url"`
	LazyLoadMembers bool        `json:"lazy_load_members"`
}

// filterParam decodes the filter query parameter (nil when absent); one
// that breaks the spec's RoomEventFilter (a field of the wrong type, a
// negative limit) is 400 M_INVALID_PARAM, as a negative limit parameter is.
func filterParam(r *http.Request) (*roomEventFilter, error) {
	raw := r.URL.Query().Get("filter")
	if raw == "" {
		return nil, nil
	}
	if err := accounts.CheckRoomEventFilter(json.RawMessage(raw)); err != nil {
		return nil, accounts.FilterRespError(err, mautrix.MInvalidParam)
	}
	var f roomEventFilter
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return nil, mautrix.MInvalidParam.WithMessage("filter must be a JSON RoomEventFilter")
	}
	return &f, nil
}

// eventFilter is the part of f the rooms domain applies.
func (f *roomEventFilter) eventFilter() *rooms.EventFilter {
	if f == nil {
		return nil
	}
	return &rooms.EventFilter{Types: f.Types, NotTypes: f.NotTypes, Senders: f.Senders,
		NotSenders: f.NotSenders, ContainsURL: f.ContainsURL}
}

func (f *roomEventFilter) lazy() bool { return f != nil && f.LazyLoadMembers }

// intParam reads an optional non-negative integer query parameter.
func intParam(r *http.Request, name string, def int) (int, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, mautrix.MInvalidParam.WithMessage("%s must be a non-negative integer", name)
	}
	return n, nil
}

// tokenParam reads an optional pagination token query parameter.
func tokenParam(r *http.Request, name string) (*stream.Position, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return nil, nil
	}
	p, err := parseToken(raw)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// dirParam reads dir: b or f (required unless def is given).
func dirParam(r *http.Request, def string) (backwards bool, err error) {
	d := r.URL.Query().Get("dir")
	if d == "" {
		d = def
	}
	switch d {
	case "b":
		return true, nil
	case "f":
		return false, nil
	}
	return false, mautrix.MInvalidParam.WithMessage(`dir must be "b" or "f"`)
}

// lazyMembers keeps, of the member events in state, those of the senders
// of evs, and every other state event.
func lazyMembers(state []*rooms.Event, evs ...[]*rooms.Event) []*rooms.Event {
	senders := map[string]bool{}
	for _, list := range evs {
		for _, e := range list {
			senders[string(e.Sender)] = true
		}
	}
	out := []*rooms.Event{}
	for _, e := range state {
		if e.Type != "m.room.member" || senders[*e.StateKey] {
			out = append(out, e)
		}
	}
	return out
}

// handleMessages answers GET /rooms/{roomId}/messages
// (spec: client-server-api "Syncing" / "Getting events for a room", messages).
func (a *API) handleMessages(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	backwards, err := dirParam(r, "")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	from, err := tokenParam(r, "from")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	to, err := tokenParam(r, "to")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	limit, err := intParam(r, "limit", 10)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	filter, err := filterParam(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var start stream.Position
	if from != nil {
		start = *from
	} else if backwards {
		if start, err = a.Rooms.LatestPosition(r.Context()); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	s := session(r)
	page, err := a.Rooms.Messages(r.Context(), s.UserID, roomID, start, to, backwards, limit, filter.eventFilter())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	resp := map[string]any{"start": formatToken(page.Start)}
	if page.More {
		resp["end"] = formatToken(page.End)
	}
	if filter.lazy() {
		members, err := a.Rooms.Members(r.Context(), s.UserID, roomID, 0, "", "")
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if resp["state"], err = a.format(r, lazyMembers(members, page.Events)); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	a.writeEvents(w, r, resp, "chunk", page.Events)
}

// format formats events for the caller.
func (a *API) format(r *http.Request, evs []*rooms.Event) ([]rooms.ClientEvent, error) {
	s := session(r)
	return a.Rooms.NewFormatter(s.UserID, s.DeviceID).Format(r.Context(), evs)
}

// handleContext answers GET /rooms/{roomId}/context/{eventId}
// (spec: client-server-api "Events", context).
func (a *API) handleContext(w http.ResponseWriter, r *http.Request) {
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
	limit, err := intParam(r, "limit", 10)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	filter, err := filterParam(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	before, after, target, state, err := a.Rooms.Context(r.Context(), session(r).UserID, roomID, eid, min(limit, 1000), filter.eventFilter())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if filter.lazy() {
		state = lazyMembers(state, before.Events, after.Events, []*rooms.Event{target})
	}
	resp := map[string]any{"start": formatToken(before.End), "end": formatToken(after.End)}
	for key, evs := range map[string][]*rooms.Event{"event": {target}, "events_before": before.Events,
		"events_after": after.Events, "state": state} {
		out, err := a.format(r, evs)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if key == "event" {
			resp[key] = out[0]
		} else {
			resp[key] = out
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleRelations answers GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]
// (spec: client-server-api "Relationships", relations).
func (a *API) handleRelations(w http.ResponseWriter, r *http.Request) {
	roomID, err := roomVar(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	vars := mux.Vars(r)
	parent, err := pathEventID(vars["eventId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	backwards, err := dirParam(r, "b")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	from, err := tokenParam(r, "from")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	to, err := tokenParam(r, "to")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	recurse := r.URL.Query().Get("recurse")
	if recurse != "" && recurse != "true" && recurse != "false" {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("recurse must be true or false"))
		return
	}
	var start stream.Position
	if from != nil {
		start = *from
	}
	page, err := a.Rooms.Relations(r.Context(), session(r).UserID, roomID, parent, vars["relType"], vars["eventType"],
		start, backwards, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if to != nil {
		kept := page.Events[:0]
		for _, e := range page.Events {
			if (backwards && e.Pos > *to) || (!backwards && e.Pos <= *to) {
				kept = append(kept, e)
			} else {
				page.More = false
			}
		}
		page.Events = kept
	}
	resp := map[string]any{}
	if page.More {
		resp["next_batch"] = formatToken(page.End)
	}
	if from != nil {
		resp["prev_batch"] = formatToken(*from)
	}
	if recurse != "" {
		// Ward follows direct relations only.
		resp["recursion_depth"] = 1
	}
	a.writeEvents(w, r, resp, "chunk", page.Events)
}
