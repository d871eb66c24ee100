package clientapi

import (
	"bytes"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"

	"ward/audit"
)

// synapseAdminAPIRoutes registers the part of Synapse's admin API that
// existing admin tools (the synapse-admin web UI among them) call: server
// version, users, devices, whois, joined rooms, rooms, members and state.
// Server admins only; every call, and every refused attempt, is recorded in
// the audit trail. Ward has no event reports: those paths stay 404
// M_UNRECOGNIZED.
//
// Shapes follow Synapse's admin API documentation ("Users", "Rooms",
// "Server Version").
func (a *API) synapseAdminAPIRoutes(r *mux.Router) {
	get, put, post, del := http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete
	const v1, v2 = "/_synapse/admin/v1", "/_synapse/admin/v2"
	route := func(method, path, action string, h http.HandlerFunc) {
		r.HandleFunc(path, a.synapseAdmin(action, h)).Methods(method)
	}
	route(get, v1+"/server_version", "server_version", a.handleSynapseServerVersion)

	route(get, v2+"/users", "users.list", a.handleSynapseUsers)
	route(get, v2+"/users/{userId}", "user.get", a.handleSynapseUser)
	route(put, v2+"/users/{userId}", "user.upsert", a.handleSynapsePutUser)
	route(post, v1+"/deactivate/{userId}", "user.deactivate", a.handleSynapseDeactivate)
	route(post, v1+"/reset_password/{userId}", "user.reset_password", a.handleSynapseResetPassword)
	route(get, v1+"/whois/{userId}", "user.whois", a.handleWhois)
	route(get, v1+"/users/{userId}/joined_rooms", "user.joined_rooms", a.handleSynapseJoinedRooms)
	route(get, v2+"/users/{userId}/devices", "devices.list", a.handleSynapseDevices)
	route(post, v2+"/users/{userId}/delete_devices", "devices.delete", a.handleSynapseDeleteDevices)
	route(get, v2+"/users/{userId}/devices/{deviceId}", "device.get", a.handleSynapseDevice)
	route(put, v2+"/users/{userId}/devices/{deviceId}", "device.rename", a.handleSynapseRenameDevice)
	route(del, v2+"/users/{userId}/devices/{deviceId}", "device.delete", a.handleSynapseDeleteDevice)

	route(get, v1+"/rooms", "rooms.list", a.handleSynapseRooms)
	route(get, v1+"/rooms/{roomId}", "room.get", a.handleSynapseRoom)
	route(get, v1+"/rooms/{roomId}/members", "room.members", a.handleSynapseRoomMembers)
	route(get, v1+"/rooms/{roomId}/state", "room.state", a.handleSynapseRoomState)
}

// bufferedResponse holds a handler's answer until its audit entry is
// written: nothing is handed out unrecorded.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

// synapseAdmin wraps a Synapse admin handler: admins only (a refusal is
// recorded by serverAdmin), and the call is recorded as admin.<action> with
// its outcome before the answer leaves.
func (a *API) synapseAdmin(action string, h http.HandlerFunc) http.HandlerFunc {
	return a.serverAdmin(a.recordedAdminCall(action, h))
}

// recordedAdminCall records an admin call as admin.<action>, with the
// endpoint, the target and the status (outcome failed and the error code
// when it was refused), before the answer leaves: nothing is handed out
// unrecorded.
func (a *API) recordedAdminCall(action string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		buf := &bufferedResponse{header: http.Header{}}
		h(buf, r)
		if buf.status == 0 {
			buf.status = http.StatusOK
		}
		route := ""
		if cr := mux.CurrentRoute(r); cr != nil {
			route, _ = cr.GetPathTemplate()
		}
		vars := mux.Vars(r)
		e := audit.Entry{Action: audit.ActionAdminPrefix + action, TargetUser: vars["userId"], RoomID: vars["roomId"],
			Detail: map[string]string{"endpoint": r.Method + " " + route, "status": strconv.Itoa(buf.status)}}
		if d := vars["deviceId"]; d != "" {
			e.Detail["device_id"] = d
		}
		if buf.status >= 400 {
			e.Outcome = audit.Failed
			var re mautrix.RespError
			if decodeJSON(buf.body.Bytes(), &re) == nil {
				e.Reason = re.ErrCode
			}
		}
		if err := a.Audit.RecordAlone(r.Context(), e); err != nil {
			a.writeError(w, r, err)
			return
		}
		for k, v := range buf.header {
			w.Header()[k] = v
		}
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
	}
}

// handleSynapseServerVersion answers GET /_synapse/admin/v1/server_version.
func (a *API) handleSynapseServerVersion(w http.ResponseWriter, r *http.Request) {
	v := "Ward"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v += " " + info.Main.Version
	}
	writeJSON(w, http.StatusOK, map[string]any{"server_version": v})
}

// queryInt reads a non-negative integer query parameter (def when absent).
func queryInt(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, mautrix.MInvalidParam.WithMessage("Query parameter %q must be a non-negative integer", name)
	}
	return n, nil
}

// queryBool reads a boolean query parameter ("true" or "false").
func queryBool(r *http.Request, name string, def bool) (bool, error) {
	switch r.URL.Query().Get(name) {
	case "":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, mautrix.MInvalidParam.WithMessage("Boolean query parameter %q must be one of ['true', 'false']", name)
}

// queryDir reads dir: f (forwards, the default) or b.
func queryDir(r *http.Request) (backwards bool, err error) {
	switch r.URL.Query().Get("dir") {
	case "", "f":
		return false, nil
	case "b":
		return true, nil
	}
	return false, mautrix.MInvalidParam.WithMessage("Unknown direction: dir must be f or b")
}

// orNull is s, or JSON null when empty.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// orNullInt is n, or JSON null when 0.
func orNullInt(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}
