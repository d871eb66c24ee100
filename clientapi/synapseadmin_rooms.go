package clientapi

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"

	"ward/rooms"
)

// synapseRoomOrder compares two rooms by one order_by value of
// GET /_synapse/admin/v1/rooms, in its forward direction (the counts
// largest first, as Synapse orders them; the rest ascending, unnamed
// last for name).
var synapseRoomOrder = map[string]func(a, b *rooms.AdminRoom) int{
	"name":                 byName,
	"alphabetical":         byName,
	"size":                 func(a, b *rooms.AdminRoom) int { return cmp.Compare(b.JoinedMembers, a.JoinedMembers) },
	"joined_members":       func(a, b *rooms.AdminRoom) int { return cmp.Compare(b.JoinedMembers, a.JoinedMembers) },
	"joined_local_members": func(a, b *rooms.AdminRoom) int { return cmp.Compare(b.JoinedLocalMembers, a.JoinedLocalMembers) },
	"state_events":         func(a, b *rooms.AdminRoom) int { return cmp.Compare(b.StateEvents, a.StateEvents) },
	"canonical_alias":      func(a, b *rooms.AdminRoom) int { return cmp.Compare(a.CanonicalAlias, b.CanonicalAlias) },
	"version":              func(a, b *rooms.AdminRoom) int { return cmp.Compare(a.Version, b.Version) },
	"creator":              func(a, b *rooms.AdminRoom) int { return cmp.Compare(a.Creator, b.Creator) },
	"encryption":           func(a, b *rooms.AdminRoom) int { return cmp.Compare(a.Encryption, b.Encryption) },
	"federatable":          func(a, b *rooms.AdminRoom) int { return compareBool(a.Federatable, b.Federatable) },
	"public":               func(a, b *rooms.AdminRoom) int { return compareBool(a.Public, b.Public) },
	"join_rules":           func(a, b *rooms.AdminRoom) int { return cmp.Compare(a.JoinRules, b.JoinRules) },
	"guest_access":         func(a, b *rooms.AdminRoom) int { return cmp.Compare(a.GuestAccess, b.GuestAccess) },
	"history_visibility":   func(a, b *rooms.AdminRoom) int { return cmp.Compare(a.HistoryVisibility, b.HistoryVisibility) },
}

func byName(a, b *rooms.AdminRoom) int {
	if (a.Name == "") != (b.Name == "") {
		return compareBool(a.Name == "", b.Name == "")
	}
	return cmp.Compare(a.Name, b.Name)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// synapseRoomJSON is a room as Synapse's rooms list shows it.
func synapseRoomJSON(r rooms.AdminRoom) map[string]any {
	return map[string]any{
		"room_id": r.RoomID, "name": orNull(r.Name), "canonical_alias": orNull(r.CanonicalAlias),
		"joined_members": r.JoinedMembers, "joined_local_members": r.JoinedLocalMembers, "version": r.Version,
		"creator": r.Creator, "encryption": orNull(r.Encryption), "federatable": r.Federatable, "public": r.Public,
		"join_rules": orNull(r.JoinRules), "guest_access": orNull(r.GuestAccess),
		"history_visibility": orNull(r.HistoryVisibility), "state_events": r.StateEvents, "room_type": orNull(r.RoomType),
	}
}

// handleSynapseRooms answers GET /_synapse/admin/v1/rooms: paged by offset
// (from, limit), searched by search_term in the name, canonical alias and
// room ID, ordered by order_by and dir.
func (a *API) handleSynapseRooms(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err := queryInt(r, "from", 0)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	backwards, err := queryDir(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	orderBy := cmp.Or(q.Get("order_by"), "name")
	order, ok := synapseRoomOrder[orderBy]
	if !ok {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("Unknown value for order_by: %s", orderBy))
		return
	}
	term, searching := q.Get("search_term"), q.Has("search_term")
	if searching && term == "" {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("search_term cannot be empty"))
		return
	}
	var public, empty *bool
	for name, dst := range map[string]**bool{"public_rooms": &public, "empty_rooms": &empty} {
		if q.Get(name) != "" {
			v, err := queryBool(r, name, false)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			*dst = &v
		}
	}
	all, err := a.Rooms.AdminRooms(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	term = strings.ToLower(term)
	all = slices.DeleteFunc(all, func(room rooms.AdminRoom) bool {
		if public != nil && room.Public != *public || empty != nil && (room.JoinedMembers == 0) != *empty {
			return true
		}
		if term == "" {
			return false
		}
		for _, f := range []string{room.Name, room.CanonicalAlias, string(room.RoomID)} {
			if strings.Contains(strings.ToLower(f), term) {
				return false
			}
		}
		return true
	})
	slices.SortStableFunc(all, func(x, y rooms.AdminRoom) int {
		c := cmp.Or(order(&x, &y), cmp.Compare(x.RoomID, y.RoomID))
		if backwards {
			return -c
		}
		return c
	})
	total := len(all)
	page := all[min(from, total):min(from+limit, total)]
	list := make([]any, 0, len(page))
	for _, room := range page {
		list = append(list, synapseRoomJSON(room))
	}
	resp := map[string]any{"rooms": list, "offset": from, "total_rooms": total}
	if from+len(page) < total && len(page) > 0 {
		resp["next_batch"] = from + len(page)
	}
	if from > 0 {
		resp["prev_batch"] = max(from-limit, 0)
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleSynapseRoom answers GET /_synapse/admin/v1/rooms/{roomId}.
func (a *API) handleSynapseRoom(w http.ResponseWriter, r *http.Request) {
	rid, err := pathRoomID(mux.Vars(r)["roomId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	room, err := a.Rooms.AdminRoom(r.Context(), rid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	members, err := a.Rooms.AdminMembers(r.Context(), rid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	local := members[:0:0]
	for _, m := range members {
		if a.Accounts.IsLocal(m) {
			local = append(local, m)
		}
	}
	devices, err := a.Accounts.CountDevices(r.Context(), local)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	resp := synapseRoomJSON(room)
	resp["avatar"] = orNull(room.Avatar)
	resp["topic"] = orNull(room.Topic)
	resp["joined_local_devices"] = devices
	resp["forgotten"] = false
	writeJSON(w, http.StatusOK, resp)
}

// handleSynapseRoomMembers answers GET /_synapse/admin/v1/rooms/{roomId}/members.
func (a *API) handleSynapseRoomMembers(w http.ResponseWriter, r *http.Request) {
	rid, err := pathRoomID(mux.Vars(r)["roomId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	members, err := a.Rooms.AdminMembers(r.Context(), rid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": members, "total": len(members)})
}

// handleSynapseRoomState answers GET /_synapse/admin/v1/rooms/{roomId}/state:
// the room's current state events (state never holds message content).
func (a *API) handleSynapseRoomState(w http.ResponseWriter, r *http.Request) {
	rid, err := pathRoomID(mux.Vars(r)["roomId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	evs, err := a.Rooms.AdminState(r.Context(), rid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	state, err := a.Rooms.NewFormatter(session(r).UserID, "").Format(r.Context(), evs)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": state})
}
