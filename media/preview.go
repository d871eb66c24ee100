package media

import (
	"context"

	"maunium.net/go/mautrix"
)

// PreviewURL answers a URL preview request. Previews are off by default: to
// build one the server would fetch the link, telling a third party that
// someone at the clinic is looking at it. Fetching is not built yet, so
// with url_previews on the answer says so.
//
// Spec: client-server-api GET /_matrix/client/v1/media/preview_url.
func (s *Service) PreviewURL(ctx context.Context, url string) error {
	if !s.opts.URLPreviews {
		return mautrix.MForbidden.WithMessage("URL previews are turned off on this server (url_previews): a preview would send the link to a third party")
	}
	return mautrix.MUnrecognized.WithStatus(501).WithMessage("URL previews are not available on this server yet")
}
