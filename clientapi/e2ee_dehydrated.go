package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix/id"

	"ward/e2ee"
)

// dehydratedDevicePrefix is MSC3814's unstable prefix, under
// /_matrix/client.
const dehydratedDevicePrefix = "/unstable/org.matrix.msc3814.v1"

// dehydratedDeviceRoutes registers the dehydrated-device endpoints
// (MSC3814) that matrix-js-sdk's Rust crypto, and so Element Web, calls.
func (a *API) dehydratedDeviceRoutes(r *mux.Router) {
	if a.E2EE == nil {
		return
	}
	r.HandleFunc("/dehydrated_device", a.auth(a.handleGetDehydratedDevice)).Methods(http.MethodGet)
	r.HandleFunc("/dehydrated_device", a.auth(a.handlePutDehydratedDevice)).Methods(http.MethodPut)
	r.HandleFunc("/dehydrated_device", a.auth(a.handleDeleteDehydratedDevice)).Methods(http.MethodDelete)
	// The Rust crypto names a dehydrated device by its curve25519 key in
	// standard base64, which may hold "/" (sent as %2F, decoded before
	// matching): the device ID is everything up to the final /events.
	r.HandleFunc("/dehydrated_device/{deviceId:.+}/events", a.auth(a.handleDehydratedDeviceEvents)).Methods(http.MethodPost)
}

// handlePutDehydratedDevice answers PUT /dehydrated_device.
// Spec: MSC3814, PUT /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device.
func (a *API) handlePutDehydratedDevice(w http.ResponseWriter, r *http.Request) {
	var req e2ee.DehydratedDeviceRequest
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	dev, err := a.E2EE.PutDehydratedDevice(r.Context(), session(r).UserID, req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]id.DeviceID{"device_id": dev})
}

// handleGetDehydratedDevice answers GET /dehydrated_device.
// Spec: MSC3814, GET /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device.
func (a *API) handleGetDehydratedDevice(w http.ResponseWriter, r *http.Request) {
	dev, err := a.E2EE.GetDehydratedDevice(r.Context(), session(r).UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, dev)
}

// handleDeleteDehydratedDevice answers DELETE /dehydrated_device.
// Spec: MSC3814, DELETE /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device.
func (a *API) handleDeleteDehydratedDevice(w http.ResponseWriter, r *http.Request) {
	dev, err := a.E2EE.DeleteDehydratedDevice(r.Context(), session(r).UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]id.DeviceID{"device_id": dev})
}

// handleDehydratedDeviceEvents answers POST /dehydrated_device/{deviceId}/events.
// Spec: MSC3814, POST /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{device_id}/events.
func (a *API) handleDehydratedDeviceEvents(w http.ResponseWriter, r *http.Request) {
	var req struct {
		NextBatch string `json:"next_batch"`
	}
	if err := readJSON(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	resp, err := a.E2EE.DehydratedDeviceEvents(r.Context(), session(r).UserID, id.DeviceID(mux.Vars(r)["deviceId"]), req.NextBatch)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
