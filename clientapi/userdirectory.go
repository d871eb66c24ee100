package clientapi

import (
	"net/http"

	"maunium.net/go/mautrix"
)

// handleUserDirectorySearch answers POST /user_directory/search
// (spec: client-server-api "User Directory").
func (a *API) handleUserDirectorySearch(w http.ResponseWriter, r *http.Request) {
	sess := session(r)
	var body struct {
		SearchTerm *string `json:"search_term"`
		Limit      int     `json:"limit"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if body.SearchTerm == nil {
		a.writeError(w, r, errMissingParam("search_term"))
		return
	}
	if body.Limit <= 0 || body.Limit > 100 {
		body.Limit = 10
	}
	visible, err := a.Rooms.VisibleUsers(r.Context(), sess.UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if a.Policy != nil {
		// Under the clinic policy the directory lists exactly the people the
		// searcher may reach (and start a conversation with), sharing a room
		// or not.
		if visible, err = a.Policy.ReachableUsers(r.Context(), sess.UserID); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	results, limited, err := a.Accounts.SearchUsers(r.Context(), *body.SearchTerm, visible, body.Limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "limited": limited})
}

// errMissingParam is the spec's M_MISSING_PARAM for a required field.
func errMissingParam(field string) error {
	return mautrix.RespError{ErrCode: "M_MISSING_PARAM", StatusCode: http.StatusBadRequest, Err: field + " is required"}
}
