package clientapi

import "github.com/gorilla/mux"

// roomRoutes registers room creation, membership, state, sending, reading
// history, aliases and the directory.
func (a *API) roomRoutes(r *mux.Router) {
}

// v1Routes registers the endpoints that live under /_matrix/client/v1.
func (a *API) v1Routes(r *mux.Router) {
}
