package clientapi

import "github.com/gorilla/mux"

// accountRoutes registers login, logout, registration, account, devices,
// profile, account data, tags, filters and the user directory.
func (a *API) accountRoutes(r *mux.Router) {
}
