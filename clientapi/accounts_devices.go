package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/accounts"
)

// handleChangePassword answers POST /account/password.
// Spec: client-server-api "Password management", POST /_matrix/client/v3/account/password.
func (a *API) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		NewPassword   string             `json:"new_password"`
		LogoutDevices *bool              `json:"logout_devices"`
		Auth          *accounts.AuthData `json:"auth"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	if err := a.Accounts.ChangePassword(r.Context(), session(r), req.NewPassword, logout, req.Auth); err != nil {
		a.writeAccountsError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleDeactivate answers POST /account/deactivate.
// Spec: client-server-api "Account deactivation", POST /_matrix/client/v3/account/deactivate.
func (a *API) handleDeactivate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Auth  *accounts.AuthData `json:"auth"`
		Erase bool               `json:"erase"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Accounts.Deactivate(r.Context(), session(r), req.Auth); err != nil {
		a.writeAccountsError(w, r, err)
		return
	}
	// Ward binds no third-party identifiers, so there is nothing to unbind.
	writeJSON(w, http.StatusOK, map[string]string{"id_server_unbind_result": "no-support"})
}

// handleDevices answers GET /devices.
// Spec: client-server-api "Device management", GET /_matrix/client/v3/devices.
func (a *API) handleDevices(w http.ResponseWriter, r *http.Request) {
	devs, err := a.Accounts.Devices(r.Context(), session(r).UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": devs})
}

// handleDevice answers GET /devices/{deviceId}.
// Spec: client-server-api GET /_matrix/client/v3/devices/{deviceId}.
func (a *API) handleDevice(w http.ResponseWriter, r *http.Request) {
	d, err := a.Accounts.Device(r.Context(), session(r).UserID, id.DeviceID(mux.Vars(r)["deviceId"]))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// handleSetDevice answers PUT /devices/{deviceId}.
// Spec: client-server-api PUT /_matrix/client/v3/devices/{deviceId}.
func (a *API) handleSetDevice(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DisplayName *string `json:"display_name"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	s := session(r)
	dev := id.DeviceID(mux.Vars(r)["deviceId"])
	var err error
	if req.DisplayName == nil {
		// Nothing to change; the device must still exist.
		_, err = a.Accounts.Device(r.Context(), s.UserID, dev)
	} else {
		err = a.Accounts.SetDeviceName(r.Context(), s.UserID, dev, *req.DisplayName)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleDeleteDevice answers DELETE /devices/{deviceId} (User-Interactive Auth).
// Spec: client-server-api DELETE /_matrix/client/v3/devices/{deviceId}.
func (a *API) handleDeleteDevice(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Auth *accounts.AuthData `json:"auth"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	err := a.Accounts.DeleteDevice(r.Context(), session(r), id.DeviceID(mux.Vars(r)["deviceId"]), req.Auth)
	if err != nil {
		a.writeAccountsError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleDeleteDevices answers POST /delete_devices (User-Interactive Auth).
// Spec: client-server-api POST /_matrix/client/v3/delete_devices.
func (a *API) handleDeleteDevices(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Devices []id.DeviceID      `json:"devices"`
		Auth    *accounts.AuthData `json:"auth"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Devices == nil {
		a.writeError(w, r, mautrix.RespError{ErrCode: "M_MISSING_PARAM", StatusCode: http.StatusBadRequest, Err: "devices is required"})
		return
	}
	if err := a.Accounts.DeleteDevices(r.Context(), session(r), req.Devices, req.Auth); err != nil {
		a.writeAccountsError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
