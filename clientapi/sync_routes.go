package clientapi

import "github.com/gorilla/mux"

// syncRoutes registers /sync, typing, receipts and read markers.
func (a *API) syncRoutes(r *mux.Router) {
}
