package clientapi

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"ward/accounts"
)

// credentialsResponse is the body of a successful login or registration.
type credentialsResponse struct {
	UserID       id.UserID   `json:"user_id"`
	AccessToken  string      `json:"access_token,omitempty"`
	DeviceID     id.DeviceID `json:"device_id,omitempty"`
	HomeServer   string      `json:"home_server,omitempty"`
	RefreshToken string      `json:"refresh_token,omitempty"`
	ExpiresInMS  int64       `json:"expires_in_ms,omitempty"`
}

func (a *API) credentials(c accounts.Credentials) credentialsResponse {
	return credentialsResponse{
		UserID: c.UserID, AccessToken: c.AccessToken, DeviceID: c.DeviceID,
		HomeServer:   a.Config.ServerName,
		RefreshToken: c.RefreshToken, ExpiresInMS: c.ExpiresIn.Milliseconds(),
	}
}

// handleLoginFlows answers GET /login.
// Spec: client-server-api "Login", GET /_matrix/client/v3/login.
func (a *API) handleLoginFlows(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"flows": []map[string]string{{"type": accounts.AuthPassword}},
	})
}

// handleLogin answers POST /login.
// Spec: client-server-api "Login", POST /_matrix/client/v3/login.
func (a *API) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req accounts.LoginRequest
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.Accounts.Login(r.Context(), req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.credentials(c))
}

// handleLogout answers POST /logout.
// Spec: client-server-api POST /_matrix/client/v3/logout.
func (a *API) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := a.Accounts.Logout(r.Context(), session(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleLogoutAll answers POST /logout/all.
// Spec: client-server-api POST /_matrix/client/v3/logout/all.
func (a *API) handleLogoutAll(w http.ResponseWriter, r *http.Request) {
	if err := a.Accounts.LogoutAll(r.Context(), session(r).UserID); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleRefresh answers POST /refresh.
// Spec: client-server-api "Refreshing access tokens", POST /_matrix/client/v3/refresh.
func (a *API) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.Accounts.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": c.AccessToken, "refresh_token": c.RefreshToken, "expires_in_ms": c.ExpiresIn.Milliseconds(),
	})
}

// handleRegister answers POST /register.
// Spec: client-server-api "Account registration", POST /_matrix/client/v3/register.
func (a *API) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req accounts.RegisterRequest
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	req.Kind = r.URL.Query().Get("kind")
	c, err := a.Accounts.Register(r.Context(), req)
	if err != nil {
		a.writeAccountsError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.credentials(c))
}

// handleRegisterAvailable answers GET /register/available.
// Spec: client-server-api GET /_matrix/client/v3/register/available.
func (a *API) handleRegisterAvailable(w http.ResponseWriter, r *http.Request) {
	if err := a.Accounts.UsernameAvailable(r.Context(), r.URL.Query().Get("username")); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"available": true})
}

// handleWhoami answers GET /account/whoami.
// Spec: client-server-api "Current account information", GET /_matrix/client/v3/account/whoami.
func (a *API) handleWhoami(w http.ResponseWriter, r *http.Request) {
	s := session(r)
	writeJSON(w, http.StatusOK, map[string]any{"user_id": s.UserID, "device_id": s.DeviceID, "is_guest": false})
}

// handleSharedSecretNonce answers GET /_synapse/admin/v1/register.
// Synapse admin API "Shared-Secret Registration".
func (a *API) handleSharedSecretNonce(w http.ResponseWriter, r *http.Request) {
	nonce, err := a.Accounts.RegistrationNonce(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"nonce": nonce})
}

// handleSharedSecretRegister answers POST /_synapse/admin/v1/register.
// Synapse admin API "Shared-Secret Registration".
func (a *API) handleSharedSecretRegister(w http.ResponseWriter, r *http.Request) {
	var req accounts.SharedSecretRequest
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.Accounts.RegisterWithSharedSecret(r.Context(), req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.credentials(c))
}

// handleCapabilities answers GET /capabilities.
// Spec: client-server-api "Capabilities negotiation", GET /_matrix/client/v3/capabilities.
func (a *API) handleCapabilities(w http.ResponseWriter, r *http.Request) {
	def := a.Config.DefaultRoomVersion
	if def == "" {
		def = "11"
	}
	enabled := func(b bool) map[string]bool { return map[string]bool{"enabled": b} }
	writeJSON(w, http.StatusOK, map[string]any{"capabilities": map[string]any{
		"m.change_password": enabled(true),
		"m.room_versions": map[string]any{
			"default":   def,
			"available": map[string]string{"10": "stable", "11": "stable", "12": "stable"},
		},
		"m.set_displayname": enabled(true),
		"m.set_avatar_url":  enabled(true),
		"m.3pid_changes":    enabled(false),
		"m.get_login_token": enabled(false),
	}})
}

// handleThreePIDs lists the account's third-party identifiers: none, since
// Ward keeps no e-mail addresses or phone numbers (a clinic's accounts come
// from its roster, and m.3pid_changes is off). Element's settings read the
// list on opening and report an error when the endpoint is missing.
//
// Spec: client-server-api GET /account/3pid.
func (a *API) handleThreePIDs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"threepids": []any{}})
}

// handleThirdPartyProtocols lists the protocols of bridged networks: none,
// since Ward has no application services (nothing leaves the clinic's
// server). Element's room directory asks for them.
//
// Spec: client-server-api GET /thirdparty/protocols.
func (a *API) handleThirdPartyProtocols(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{})
}
