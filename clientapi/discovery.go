package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
)

// discoveryRoutes: GET /_matrix/client/versions, /.well-known/matrix/client
// (spec: client-server-api "Server discovery", "API Standards").
func (a *API) discoveryRoutes(r *mux.Router) {
	r.HandleFunc("/_matrix/client/versions", a.handleVersions).Methods(http.MethodGet)
	r.HandleFunc("/.well-known/matrix/client", a.handleWellKnown).Methods(http.MethodGet)
}

// handleVersions answers GET /_matrix/client/versions.
func (a *API) handleVersions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"versions": []string{
			"r0.5.0", "r0.6.0", "r0.6.1",
			"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9",
			"v1.10", "v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16", "v1.17", "v1.18", "v1.19",
		},
		"unstable_features": map[string]bool{"org.matrix.msc3814": a.E2EE != nil},
	})
}

// handleWellKnown answers GET /.well-known/matrix/client.
//
// "org.matrix.msc3814": true is what makes Element Web create and
// rehydrate dehydrated devices (it probes the endpoint too, but acts only
// on this flag), so that a patient who logs in again still reads what was
// sent while no device of theirs was online.
func (a *API) handleWellKnown(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{
		"m.homeserver": map[string]string{"base_url": a.Config.BaseURL()},
	}
	if a.E2EE != nil {
		body["org.matrix.msc3814"] = true
	}
	writeJSON(w, http.StatusOK, body)
}
