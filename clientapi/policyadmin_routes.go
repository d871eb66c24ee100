package clientapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/policy"
)

// adminPrefix is the project's own admin API; every endpoint under it is
// for server admins (accounts' is_admin) only.
const adminPrefix = "/_ward/admin/v1"

// policyAdminRoutes registers the clinic policy's admin API and the
// registration-token validity check that intake tokens answer.
func (a *API) policyAdminRoutes(r *mux.Router) {
	get, post, put, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
	r.HandleFunc("/_matrix/client/v1/register/m.login.registration_token/validity", a.limited(a.handleRegistrationTokenValidity)).Methods(get)

	ad := r.PathPrefix(adminPrefix).Subrouter()
	ad.HandleFunc("/roles", a.admin(a.handleAdminRoles)).Methods(get)
	ad.HandleFunc("/users/{userId}/role", a.admin(a.handleAdminSetRole)).Methods(put)
	ad.HandleFunc("/teams", a.admin(a.handleAdminTeams)).Methods(get)
	ad.HandleFunc("/teams/{team}", a.admin(a.handleAdminCreateTeam)).Methods(put)
	ad.HandleFunc("/teams/{team}", a.admin(a.handleAdminDeleteTeam)).Methods(del)
	ad.HandleFunc("/teams/{team}/members/{userId}", a.admin(a.handleAdminAddMember)).Methods(put)
	ad.HandleFunc("/teams/{team}/members/{userId}", a.admin(a.handleAdminRemoveMember)).Methods(del)
	ad.HandleFunc("/assignments", a.admin(a.handleAdminAssignments)).Methods(get)
	ad.HandleFunc("/assignments/{provider}/{patient}", a.admin(a.handleAdminAssign)).Methods(put)
	ad.HandleFunc("/assignments/{provider}/{patient}", a.admin(a.handleAdminUnassign)).Methods(del)
	ad.HandleFunc("/intake_tokens", a.admin(a.handleAdminIntakeTokens)).Methods(get)
	ad.HandleFunc("/intake_tokens", a.admin(a.handleAdminCreateIntakeToken)).Methods(post)
	ad.HandleFunc("/intake_tokens/{tokenId}", a.admin(a.handleAdminRevokeIntakeToken)).Methods(del)
}

// admin wraps a handler for server admins only (serverAdmin, which records
// a refusal), with the clinic policy on.
func (a *API) admin(h http.HandlerFunc) http.HandlerFunc {
	return a.serverAdmin(func(w http.ResponseWriter, r *http.Request) {
		if a.Policy == nil {
			a.writeError(w, r, mautrix.MUnrecognized.WithStatus(http.StatusNotFound).WithMessage("The clinic policy is switched off"))
			return
		}
		h(w, r)
	})
}

// adminOps are the policy's admin operations as the caller.
func (a *API) adminOps(r *http.Request) *policy.Admin {
	return a.Policy.AdminAs(string(session(r).UserID))
}

// adminUser reads a user ID path variable; a bare localpart means a local
// user.
func (a *API) adminUser(r *http.Request, name string) (id.UserID, error) {
	raw := mux.Vars(r)[name]
	if !strings.HasPrefix(raw, "@") {
		raw = string(id.NewUserID(raw, a.Config.ServerName))
	}
	return pathUserID(raw)
}

func (a *API) done(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleRegistrationTokenValidity answers
// GET /_matrix/client/v1/register/m.login.registration_token/validity.
// Spec: client-server-api "Token-authenticated registration".
func (a *API) handleRegistrationTokenValidity(w http.ResponseWriter, r *http.Request) {
	ok, err := a.Accounts.RegistrationTokenValid(r.Context(), r.URL.Query().Get("token"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"valid": ok})
}

// handleAdminRoles answers GET /_ward/admin/v1/roles.
func (a *API) handleAdminRoles(w http.ResponseWriter, r *http.Request) {
	roles, err := a.Policy.RoleList(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"roles": roles})
}

// handleAdminSetRole answers PUT /_ward/admin/v1/users/{userId}/role
// with {"role": "nurse"}.
func (a *API) handleAdminSetRole(w http.ResponseWriter, r *http.Request) {
	user, err := a.adminUser(r, "userId")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req struct {
		Role policy.Role `json:"role"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.done(w, r, a.adminOps(r).SetRole(r.Context(), user, req.Role))
}

// handleAdminTeams answers GET /_ward/admin/v1/teams (with members).
func (a *API) handleAdminTeams(w http.ResponseWriter, r *http.Request) {
	teams, err := a.Policy.TeamList(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"teams": teams})
}

// handleAdminCreateTeam answers PUT /_ward/admin/v1/teams/{team}.
func (a *API) handleAdminCreateTeam(w http.ResponseWriter, r *http.Request) {
	a.done(w, r, a.adminOps(r).CreateTeam(r.Context(), mux.Vars(r)["team"]))
}

// handleAdminDeleteTeam answers DELETE /_ward/admin/v1/teams/{team}.
func (a *API) handleAdminDeleteTeam(w http.ResponseWriter, r *http.Request) {
	a.done(w, r, a.adminOps(r).DeleteTeam(r.Context(), mux.Vars(r)["team"]))
}

// handleAdminAddMember answers PUT /_ward/admin/v1/teams/{team}/members/{userId}
// with an optional {"kind": "clinician" | "patient"} (default: from the
// user's role).
func (a *API) handleAdminAddMember(w http.ResponseWriter, r *http.Request) {
	user, err := a.adminUser(r, "userId")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req struct {
		Kind policy.TeamKind `json:"kind"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.done(w, r, a.adminOps(r).AddToTeam(r.Context(), mux.Vars(r)["team"], user, req.Kind))
}

// handleAdminRemoveMember answers DELETE /_ward/admin/v1/teams/{team}/members/{userId}.
func (a *API) handleAdminRemoveMember(w http.ResponseWriter, r *http.Request) {
	user, err := a.adminUser(r, "userId")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.done(w, r, a.adminOps(r).RemoveFromTeam(r.Context(), mux.Vars(r)["team"], user))
}

// handleAdminAssignments answers GET /_ward/admin/v1/assignments.
func (a *API) handleAdminAssignments(w http.ResponseWriter, r *http.Request) {
	as, err := a.Policy.AssignmentList(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"assignments": as})
}

func (a *API) assignmentVars(r *http.Request) (provider, patient id.UserID, err error) {
	if provider, err = a.adminUser(r, "provider"); err != nil {
		return "", "", err
	}
	patient, err = a.adminUser(r, "patient")
	return provider, patient, err
}

// handleAdminAssign answers PUT /_ward/admin/v1/assignments/{provider}/{patient}.
func (a *API) handleAdminAssign(w http.ResponseWriter, r *http.Request) {
	prov, pat, err := a.assignmentVars(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.done(w, r, a.adminOps(r).Assign(r.Context(), prov, pat))
}

// handleAdminUnassign answers DELETE /_ward/admin/v1/assignments/{provider}/{patient}.
func (a *API) handleAdminUnassign(w http.ResponseWriter, r *http.Request) {
	prov, pat, err := a.assignmentVars(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.done(w, r, a.adminOps(r).Unassign(r.Context(), prov, pat))
}

// handleAdminIntakeTokens answers GET /_ward/admin/v1/intake_tokens.
func (a *API) handleAdminIntakeTokens(w http.ResponseWriter, r *http.Request) {
	toks, err := a.Policy.IntakeTokens(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"intake_tokens": toks})
}

// handleAdminCreateIntakeToken answers POST /_ward/admin/v1/intake_tokens
// with {"role", "care_teams", "providers", "uses", "expires_in_ms"}; the
// answer holds the token itself, shown this once.
func (a *API) handleAdminCreateIntakeToken(w http.ResponseWriter, r *http.Request) {
	// uses and expires_in_ms default when left out; given, they must be
	// positive (an explicit 0 is refused, not taken as the default).
	var req struct {
		policy.IntakeSpec
		Uses        *int   `json:"uses"`
		ExpiresInMS *int64 `json:"expires_in_ms"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	spec := req.IntakeSpec
	if spec.Localpart != "" {
		a.writeError(w, r, mautrix.MInvalidParam.WithMessage("Tokens bound to an account come from the roster import"))
		return
	}
	for i, p := range spec.Providers {
		if !strings.HasPrefix(string(p), "@") {
			spec.Providers[i] = id.NewUserID(string(p), a.Config.ServerName)
		}
	}
	spec.Uses, spec.Lifetime = 1, policy.DefaultIntakeLifetime
	if req.Uses != nil {
		spec.Uses = *req.Uses
	}
	if req.ExpiresInMS != nil {
		if *req.ExpiresInMS <= 0 {
			a.writeError(w, r, mautrix.MInvalidParam.WithMessage("expires_in_ms must be positive"))
			return
		}
		spec.Lifetime = time.Duration(*req.ExpiresInMS) * time.Millisecond
	}
	secret, tok, err := a.adminOps(r).CreateIntakeToken(r.Context(), spec)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": secret, "intake_token": tok})
}

// handleAdminRevokeIntakeToken answers DELETE /_ward/admin/v1/intake_tokens/{tokenId}.
func (a *API) handleAdminRevokeIntakeToken(w http.ResponseWriter, r *http.Request) {
	a.done(w, r, a.adminOps(r).RevokeIntakeToken(r.Context(), mux.Vars(r)["tokenId"]))
}
