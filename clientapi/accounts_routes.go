package clientapi

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"ward/accounts"
)

// accountRoutes registers login, logout, registration, account, devices,
// profile, account data, tags, filters and capabilities.
func (a *API) accountRoutes(r *mux.Router) {
	get, post, put, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete

	r.HandleFunc("/login", a.handleLoginFlows).Methods(get)
	r.HandleFunc("/login", a.limited(a.handleLogin)).Methods(post)
	r.HandleFunc("/logout", a.auth(a.handleLogout)).Methods(post)
	r.HandleFunc("/logout/all", a.auth(a.handleLogoutAll)).Methods(post)
	r.HandleFunc("/refresh", a.limited(a.handleRefresh)).Methods(post)
	r.HandleFunc("/register", a.limited(a.handleRegister)).Methods(post)
	r.HandleFunc("/register/available", a.limited(a.handleRegisterAvailable)).Methods(get)

	r.HandleFunc("/account/whoami", a.auth(a.handleWhoami)).Methods(get)
	// The spec's whois (client-server-api "Server administration"): the
	// Synapse admin API's answer, which has the spec's shape, for server
	// admins about anyone and for users about themselves; audited as
	// admin.user.whois like the Synapse endpoint.
	r.HandleFunc("/admin/whois/{userId}", a.selfOrServerAdmin(a.recordedAdminCall("user.whois", a.handleWhois))).Methods(get)
	r.HandleFunc("/account/password", a.auth(a.handleChangePassword)).Methods(post)
	r.HandleFunc("/account/deactivate", a.auth(a.handleDeactivate)).Methods(post)

	r.HandleFunc("/devices", a.auth(a.handleDevices)).Methods(get)
	r.HandleFunc("/devices/{deviceId}", a.auth(a.handleDevice)).Methods(get)
	r.HandleFunc("/devices/{deviceId}", a.auth(a.handleSetDevice)).Methods(put)
	r.HandleFunc("/devices/{deviceId}", a.auth(a.handleDeleteDevice)).Methods(del)
	r.HandleFunc("/delete_devices", a.auth(a.handleDeleteDevices)).Methods(post)

	r.HandleFunc("/profile/{userId}", a.profileAuth(a.handleProfile)).Methods(get)
	r.HandleFunc("/profile/{userId}/displayname", a.profileAuth(a.handleDisplayName)).Methods(get)
	r.HandleFunc("/profile/{userId}/displayname", a.auth(a.handleSetDisplayName)).Methods(put)
	r.HandleFunc("/profile/{userId}/avatar_url", a.profileAuth(a.handleAvatarURL)).Methods(get)
	r.HandleFunc("/profile/{userId}/avatar_url", a.auth(a.handleSetAvatarURL)).Methods(put)

	r.HandleFunc("/user/{userId}/account_data/{type}", a.auth(a.handleGetAccountData)).Methods(get)
	r.HandleFunc("/user/{userId}/account_data/{type}", a.auth(a.handleSetAccountData)).Methods(put)
	r.HandleFunc("/user/{userId}/rooms/{roomId}/account_data/{type}", a.auth(a.handleGetAccountData)).Methods(get)
	r.HandleFunc("/user/{userId}/rooms/{roomId}/account_data/{type}", a.auth(a.handleSetAccountData)).Methods(put)
	r.HandleFunc("/user/{userId}/rooms/{roomId}/tags", a.auth(a.handleTags)).Methods(get)
	r.HandleFunc("/user/{userId}/rooms/{roomId}/tags/{tag}", a.auth(a.handleSetTag)).Methods(put)
	r.HandleFunc("/user/{userId}/rooms/{roomId}/tags/{tag}", a.auth(a.handleDeleteTag)).Methods(del)
	r.HandleFunc("/user/{userId}/filter", a.auth(a.handleCreateFilter)).Methods(post)
	r.HandleFunc("/user/{userId}/filter/{filterId}", a.auth(a.handleGetFilter)).Methods(get)

	r.HandleFunc("/capabilities", a.auth(a.handleCapabilities)).Methods(get)
	r.HandleFunc("/account/3pid", a.auth(a.handleThreePIDs)).Methods(get)
	r.HandleFunc("/thirdparty/protocols", a.auth(a.handleThirdPartyProtocols)).Methods(get)
}

// synapseAdminRoutes registers the Synapse-compatible shared-secret
// registration, which provisioning scripts and bots' set-up tools call.
func (a *API) synapseAdminRoutes(r *mux.Router) {
	r.HandleFunc("/_synapse/admin/v1/register", a.limited(a.handleSharedSecretNonce)).Methods(http.MethodGet)
	r.HandleFunc("/_synapse/admin/v1/register", a.limited(a.handleSharedSecretRegister)).Methods(http.MethodPost)
}

// limited spends one attempt of the remote address's allowance for login
// and registration before calling h (spec: "Rate limiting").
func (a *API) limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.Accounts.CheckRateLimit(remoteAddr(r)); err != nil {
			a.writeError(w, r, err)
			return
		}
		h(w, r)
	}
}

// writeAccountsError writes err, answering User-Interactive Auth's next
// step as the spec's 401 body rather than as an error.
func (a *API) writeAccountsError(w http.ResponseWriter, r *http.Request, err error) {
	var ar *accounts.AuthRequired
	if errors.As(err, &ar) {
		writeJSON(w, http.StatusUnauthorized, ar)
		return
	}
	a.writeError(w, r, err)
}
