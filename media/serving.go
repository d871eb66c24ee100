package media

import (
	"mime"
	"strings"
)

// inlineTypes is the spec's list of content types that are safe to serve
// with Content-Disposition: inline (client-server-api "Serving inline
// content"). A declared type outside it is served as
// application/octet-stream.
var inlineTypes = map[string]bool{
	"text/css": true, "text/plain": true, "text/csv": true, "application/json": true, "application/ld+json": true,
	"image/jpeg": true, "image/gif": true, "image/png": true, "image/apng": true, "image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "video/quicktime": true,
	"audio/mp4": true, "audio/webm": true, "audio/aac": true, "audio/mpeg": true, "audio/ogg": true, "audio/wave": true,
	"audio/wav": true, "audio/x-wav": true, "audio/x-pn-wav": true, "audio/flac": true, "audio/x-flac": true,
}

// inlineImages are the only types served inline: a clinic's media is an
// attachment unless it is a picture a client shows in the timeline.
var inlineImages = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// ContentSecurityPolicy is sent with every body: nothing in it may run.
const ContentSecurityPolicy = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; " +
	"style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"

// ServingHeaders gives the Content-Type and Content-Disposition to serve an
// item with: the declared type only when it is in the spec's inline allow
// list, and inline only for the safe image types.
func ServingHeaders(declared, fileName string) (contentType, disposition string) {
	mt, _, _ := strings.Cut(declared, ";")
	mt = strings.TrimSpace(mt)
	contentType = "application/octet-stream"
	if inlineTypes[mt] {
		contentType = declared
	}
	kind := "attachment"
	if inlineImages[mt] {
		kind = "inline"
	}
	disposition = kind
	if name := CleanFileName(fileName); name != "" {
		if d := mime.FormatMediaType(kind, map[string]string{"filename": name}); d != "" {
			disposition = d
		}
	}
	return contentType, disposition
}
