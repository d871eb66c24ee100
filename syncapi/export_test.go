package syncapi

import (
	"context"

	"ward/internal/stream"
)

// BuildUpTo builds a response bounded by upto, as if upto had been read
// just before other writes committed: for tests of that race.
func (s *Service) BuildUpTo(ctx context.Context, req Request, upto stream.Position) (*Response, error) {
	return s.buildUpTo(ctx, req, upto)
}
