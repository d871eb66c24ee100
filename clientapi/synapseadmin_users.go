package clientapi

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/accounts"
)

// synapseUserOrder lists the order_by values of GET /_synapse/admin/v2/users;
// the ones Ward has no data for (every account is a regular, non-guest,
// non-shadow-banned one) order by name.
var synapseUserOrder = map[string]string{
	"name": "name", "displayname": "displayname", "avatar_url": "avatar_url", "admin": "admin",
	"deactivated": "deactivated", "creation_ts": "creation_ts", "last_seen_ts": "last_seen_ts",
	"is_guest": "name", "user_type": "name", "shadow_banned": "name", "locked": "name",
}

// synapseUserJSON is an account in the shape of Synapse's users list.
func synapseUserJSON(u accounts.AdminUser) map[string]any {
	return map[string]any{
		"name": u.UserID, "displayname": orNull(u.DisplayName), "avatar_url": orNull(u.AvatarURL),
		"admin": u.Admin, "deactivated": u.Deactivated, "is_guest": false, "user_type": nil,
		"creation_ts": u.CreatedTS, "last_seen_ts": orNullInt(u.LastSeenTS),
		"shadow_banned": false, "locked": false, "erased": false,
	}
}

// synapseUserDetailJSON is an account as GET /_synapse/admin/v2/users/{userId}
// shows it.
func synapseUserDetailJSON(u accounts.AdminUser) map[string]any {
	m := synapseUserJSON(u)
	m["threepids"] = []any{}
	m["external_ids"] = []any{}
	m["appservice_id"] = nil
	m["consent_server_notice_sent"] = nil
	m["consent_version"] = nil
	m["consent_ts"] = nil
	m["suspended"] = false
	return m
}

// synapseLocalUser reads {userId}: a valid user ID of this server.
func (a *API) synapseLocalUser(r *http.Request) (id.UserID, error) {
	uid, err := pathUserID(mux.Vars(r)["userId"])
	if err != nil {
		return "", err
	}
	if !a.Accounts.IsLocal(uid) {
		return "", mautrix.MInvalidParam.WithMessage("This endpoint can only be used with local users")
	}
	return uid, nil
}

// handleSynapseUsers answers GET /_synapse/admin/v2/users.
func (a *API) handleSynapseUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	uq := accounts.UserQuery{Name: q.Get("name"), UserID: q.Get("user_id")}
	var err error
	if uq.From, err = queryInt(r, "from", 0); err != nil {
		a.writeError(w, r, err)
		return
	}
	if uq.Limit, err = queryInt(r, "limit", 100); err != nil {
		a.writeError(w, r, err)
		return
	}
	if _, err = queryBool(r, "guests", true); err != nil {
		a.writeError(w, r, err)
		return
	}
	if uq.Deactivated, err = queryBool(r, "deactivated", false); err != nil {
		a.writeError(w, r, err)
		return
	}
	if uq.Backwards, err = queryDir(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	if ob := q.Get("order_by"); ob != "" {
		var ok bool
		if uq.OrderBy, ok = synapseUserOrder[ob]; !ok {
			a.writeError(w, r, mautrix.MInvalidParam.WithMessage("Unknown value for order_by: %s", ob))
			return
		}
	}
	resp := map[string]any{"users": []any{}}
	users, total := []accounts.AdminUser{}, 0
	if uq.Limit > 0 {
		if users, total, err = a.Accounts.AdminUsers(r.Context(), uq); err != nil {
			a.writeError(w, r, err)
			return
		}
	} else if _, total, err = a.Accounts.AdminUsers(r.Context(), accounts.UserQuery{Name: uq.Name, UserID: uq.UserID,
		Deactivated: uq.Deactivated, Limit: 1}); err != nil {
		a.writeError(w, r, err)
		return
	}
	list := make([]any, 0, len(users))
	for _, u := range users {
		list = append(list, synapseUserJSON(u))
	}
	resp["users"], resp["total"] = list, total
	if next := uq.From + len(users); len(users) > 0 && next < total {
		resp["next_token"] = strconv.Itoa(next)
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleSynapseUser answers GET /_synapse/admin/v2/users/{userId}.
func (a *API) handleSynapseUser(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.Accounts.AdminUser(r.Context(), uid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, synapseUserDetailJSON(u))
}

// handleSynapsePutUser answers PUT /_synapse/admin/v2/users/{userId}:
// creates the account (201) or changes it (200), answering with the
// account either way.
func (a *API) handleSynapsePutUser(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body struct {
		Password      *string `json:"password"`
		LogoutDevices *bool   `json:"logout_devices"`
		DisplayName   *string `json:"displayname"`
		AvatarURL     *string `json:"avatar_url"`
		Admin         *bool   `json:"admin"`
		Deactivated   *bool   `json:"deactivated"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if body.Admin != nil && !*body.Admin && uid == session(r).UserID {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("You may not demote yourself."))
		return
	}
	if body.Deactivated != nil && *body.Deactivated && uid == session(r).UserID {
		a.writeError(w, r, errSelfDeactivate)
		return
	}
	c := accounts.UserChange{Password: body.Password, DisplayName: body.DisplayName, AvatarURL: body.AvatarURL,
		Admin: body.Admin, Deactivated: body.Deactivated, LogoutDevices: body.LogoutDevices == nil || *body.LogoutDevices}
	created, err := a.Accounts.AdminUpsertUser(r.Context(), uid, c)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.Accounts.AdminUser(r.Context(), uid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, synapseUserDetailJSON(u))
}

// errSelfDeactivate refuses an admin deactivating their own account through
// the admin API: like a self-demotion, it could leave the server with no
// admin. POST /account/deactivate (with the password) remains.
var errSelfDeactivate = mautrix.MInvalidParam.WithMessage("You may not deactivate yourself through the admin API.")

// handleSynapseDeactivate answers POST /_synapse/admin/v1/deactivate/{userId}.
// Ward keeps no third-party identifiers and erases nothing on request
// ("erase" is accepted and ignored: the audit trail keeps its subject).
// It has no identity server to unbind from, so the result is "no-support",
// as from POST /account/deactivate.
func (a *API) handleSynapseDeactivate(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if uid == session(r).UserID {
		a.writeError(w, r, errSelfDeactivate)
		return
	}
	var body struct {
		Erase bool `json:"erase"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Accounts.AdminDeactivate(r.Context(), uid); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id_server_unbind_result": "no-support"})
}

// handleSynapseResetPassword answers POST /_synapse/admin/v1/reset_password/{userId}.
func (a *API) handleSynapseResetPassword(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body struct {
		NewPassword   string `json:"new_password"`
		LogoutDevices *bool  `json:"logout_devices"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Accounts.AdminResetPassword(r.Context(), uid, body.NewPassword, body.LogoutDevices == nil || *body.LogoutDevices); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleWhois answers GET /_synapse/admin/v1/whois/{userId} and the spec's
// GET /_matrix/client/v3/admin/whois/{userId} (client-server-api "Server
// administration"; Synapse's answer has its shape): each device with where
// and how it was last seen.
func (a *API) handleWhois(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	devs, err := a.Accounts.AdminDevices(r.Context(), uid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	devices := map[string]any{}
	for _, d := range devs {
		conns := []any{}
		if d.LastSeenTS > 0 {
			conns = append(conns, map[string]any{"ip": d.LastSeenIP, "last_seen": d.LastSeenTS, "user_agent": d.LastSeenUserAgent})
		}
		devices[string(d.DeviceID)] = map[string]any{"sessions": []any{map[string]any{"connections": conns}}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_id": uid, "devices": devices})
}

// handleSynapseJoinedRooms answers GET /_synapse/admin/v1/users/{userId}/joined_rooms.
func (a *API) handleSynapseJoinedRooms(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if _, err := a.Accounts.AdminUser(r.Context(), uid); err != nil {
		a.writeError(w, r, err)
		return
	}
	rooms, err := a.Rooms.JoinedRooms(r.Context(), uid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"joined_rooms": rooms, "total": len(rooms)})
}

func synapseDeviceJSON(user id.UserID, d accounts.AdminDevice) map[string]any {
	return map[string]any{
		"device_id": d.DeviceID, "display_name": orNull(d.DisplayName), "last_seen_ip": orNull(d.LastSeenIP),
		"last_seen_user_agent": orNull(d.LastSeenUserAgent), "last_seen_ts": orNullInt(d.LastSeenTS), "user_id": user,
	}
}

// handleSynapseDevices answers GET /_synapse/admin/v2/users/{userId}/devices.
func (a *API) handleSynapseDevices(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	devs, err := a.Accounts.AdminDevices(r.Context(), uid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	list := make([]any, 0, len(devs))
	for _, d := range devs {
		list = append(list, synapseDeviceJSON(uid, d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": list, "total": len(list)})
}

// handleSynapseDevice answers GET /_synapse/admin/v2/users/{userId}/devices/{deviceId}.
func (a *API) handleSynapseDevice(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	devs, err := a.Accounts.AdminDevices(r.Context(), uid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	want := id.DeviceID(mux.Vars(r)["deviceId"])
	for _, d := range devs {
		if d.DeviceID == want {
			writeJSON(w, http.StatusOK, synapseDeviceJSON(uid, d))
			return
		}
	}
	a.writeError(w, r, mautrix.MNotFound.WithMessage("No device found"))
}

// handleSynapseRenameDevice answers PUT /_synapse/admin/v2/users/{userId}/devices/{deviceId}.
func (a *API) handleSynapseRenameDevice(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body struct {
		DisplayName *string `json:"display_name"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if body.DisplayName != nil {
		if err := a.Accounts.SetDeviceName(r.Context(), uid, id.DeviceID(mux.Vars(r)["deviceId"]), *body.DisplayName); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleSynapseDeleteDevice answers DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}.
func (a *API) handleSynapseDeleteDevice(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Accounts.AdminDeleteDevices(r.Context(), uid, []id.DeviceID{id.DeviceID(mux.Vars(r)["deviceId"])}); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleSynapseDeleteDevices answers POST /_synapse/admin/v2/users/{userId}/delete_devices.
func (a *API) handleSynapseDeleteDevices(w http.ResponseWriter, r *http.Request) {
	uid, err := a.synapseLocalUser(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var body struct {
		Devices []id.DeviceID `json:"devices"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Accounts.AdminDeleteDevices(r.Context(), uid, body.Devices); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}
