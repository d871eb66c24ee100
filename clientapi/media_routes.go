package clientapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"

	"ward/media"
)

// mediaRoutes registers the content repository: uploads under
// /_matrix/media, authenticated downloads under /_matrix/client/v1/media,
// and the frozen unauthenticated downloads.
//
// Spec: client-server-api "Content repository".
func (a *API) mediaRoutes(root *mux.Router) {
	for _, v := range []string{"v3", "r0"} {
		m := root.PathPrefix("/_matrix/media/" + v).Subrouter()
		m.HandleFunc("/upload", a.auth(a.handleUpload)).Methods(http.MethodPost)
		m.HandleFunc("/upload/{serverName}/{mediaId}", a.auth(a.handleUploadTo)).Methods(http.MethodPut)
		// Spec: the deprecated unauthenticated downloads are frozen: media
		// uploaded after the freeze (all of Ward's) answers 404 M_NOT_FOUND.
		m.HandleFunc("/download/{serverName}/{mediaId}", a.handleFrozen).Methods(http.MethodGet, http.MethodHead)
		m.HandleFunc("/download/{serverName}/{mediaId}/{fileName}", a.handleFrozen).Methods(http.MethodGet, http.MethodHead)
		m.HandleFunc("/thumbnail/{serverName}/{mediaId}", a.handleFrozen).Methods(http.MethodGet, http.MethodHead)
		m.HandleFunc("/config", a.auth(a.handleMediaConfig)).Methods(http.MethodGet)
		m.HandleFunc("/preview_url", a.auth(a.handlePreviewURL)).Methods(http.MethodGet)
	}
	root.HandleFunc("/_matrix/media/v1/create", a.auth(a.handleCreateMedia)).Methods(http.MethodPost)

	c := root.PathPrefix("/_matrix/client/v1/media").Subrouter()
	c.HandleFunc("/config", a.auth(a.handleMediaConfig)).Methods(http.MethodGet)
	c.HandleFunc("/download/{serverName}/{mediaId}", a.auth(a.handleDownload)).Methods(http.MethodGet, http.MethodHead)
	c.HandleFunc("/download/{serverName}/{mediaId}/{fileName}", a.auth(a.handleDownload)).Methods(http.MethodGet, http.MethodHead)
	c.HandleFunc("/thumbnail/{serverName}/{mediaId}", a.auth(a.handleThumbnail)).Methods(http.MethodGet, http.MethodHead)
	c.HandleFunc("/preview_url", a.auth(a.handlePreviewURL)).Methods(http.MethodGet)
}

// isMediaUpload reports whether r is an upload, which the outer middleware
// leaves to the media limit instead of max_request_bytes.
func isMediaUpload(r *http.Request) bool {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return false
	}
	p := r.URL.Path
	return strings.HasPrefix(p, "/_matrix/media/v3/upload") || strings.HasPrefix(p, "/_matrix/media/r0/upload")
}

func caller(r *http.Request) media.Caller {
	s := session(r)
	return media.Caller{UserID: s.UserID, IsAdmin: s.IsAdmin}
}

// uploadOf reads the parts of an upload request.
func uploadOf(r *http.Request) media.Upload {
	return media.Upload{
		ContentType: r.Header.Get("Content-Type"),
		FileName:    r.URL.Query().Get("filename"),
		Length:      r.ContentLength,
		Body:        r.Body,
	}
}

// handleUpload answers POST /_matrix/media/v3/upload.
func (a *API) handleUpload(w http.ResponseWriter, r *http.Request) {
	uri, err := a.Media.Upload(r.Context(), caller(r), uploadOf(r))
	if err != nil {
		a.writeUploadError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"content_uri": uri.String()})
}

// handleCreateMedia answers POST /_matrix/media/v1/create.
func (a *API) handleCreateMedia(w http.ResponseWriter, r *http.Request) {
	uri, expires, err := a.Media.Create(r.Context(), caller(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"content_uri": uri.String(), "unused_expires_at": expires})
}

// handleUploadTo answers PUT /_matrix/media/v3/upload/{serverName}/{mediaId}.
func (a *API) handleUploadTo(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	if err := a.Media.UploadTo(r.Context(), caller(r), v["serverName"], v["mediaId"], uploadOf(r)); err != nil {
		a.writeUploadError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// writeUploadError answers a refused upload. The rest of a refused body is
// not read: the connection is closed after the answer instead.
func (a *API) writeUploadError(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Connection", "close")
	a.writeError(w, r, err)
}

// waitOf reads timeout_ms (default 20 s, at most 60 s).
func waitOf(r *http.Request) (time.Duration, error) {
	raw := r.URL.Query().Get("timeout_ms")
	if raw == "" {
		return media.DefaultWait, nil
	}
	ms, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || ms < 0 {
		return 0, mautrix.MInvalidParam.WithMessage("timeout_ms must be a whole number of milliseconds")
	}
	return time.Duration(min(ms, media.MaxWait.Milliseconds())) * time.Millisecond, nil
}

// handleDownload answers GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}].
func (a *API) handleDownload(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	wait, err := waitOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.Media.Download(r.Context(), caller(r), v["serverName"], v["mediaId"], v["fileName"], wait)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	serveContent(w, r, c)
}

// handleThumbnail answers GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}.
func (a *API) handleThumbnail(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	q := r.URL.Query()
	req, err := media.ParseThumbnailRequest(q.Get("width"), q.Get("height"), q.Get("method"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	wait, err := waitOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.Media.Thumbnail(r.Context(), caller(r), v["serverName"], v["mediaId"], req, wait)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	serveContent(w, r, c)
}

// serveContent streams a body with the safe serving headers (ranges and
// HEAD included).
func serveContent(w http.ResponseWriter, r *http.Request, c *media.Content) {
	defer c.File.Close()
	h := w.Header()
	h.Set("Content-Type", c.ContentType)
	h.Set("Content-Disposition", c.Disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", media.ContentSecurityPolicy)
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	// Authenticated media: never in a shared cache.
	h.Set("Cache-Control", "private, max-age=86400")
	http.ServeContent(w, r, "", c.ModTime, c.File)
}

// handleFrozen answers the deprecated unauthenticated downloads.
func (a *API) handleFrozen(w http.ResponseWriter, r *http.Request) {
	a.writeError(w, r, mautrix.MNotFound.WithMessage("Media is served only through the authenticated /_matrix/client/v1/media endpoints"))
}

// handleMediaConfig answers GET /_matrix/client/v1/media/config.
func (a *API) handleMediaConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]int64{"m.upload.size": a.Media.MaxUploadBytes()})
}

// handlePreviewURL answers GET /_matrix/client/v1/media/preview_url.
func (a *API) handlePreviewURL(w http.ResponseWriter, r *http.Request) {
	a.writeError(w, r, a.Media.PreviewURL(r.Context(), r.URL.Query().Get("url")))
}
