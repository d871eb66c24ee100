package clientapi

import (
	"strconv"
	"strings"

	"maunium.net/go/mautrix"

	"ward/internal/stream"
)

// Pagination tokens (/messages start and end, /context, /relations,
// /members at, and /sync's next_batch and prev_batch) are all "s<pos>",
// optionally followed by "_<more>" that other streams may use. Only the
// room stream position before the first "_" matters to room history.

// formatToken encodes a stream position as a pagination token.
func formatToken(pos stream.Position) string {
	return "s" + strconv.FormatInt(int64(pos), 10)
}

// parseToken decodes a pagination token; anything else is 400 M_INVALID_PARAM.
func parseToken(tok string) (stream.Position, error) {
	num, ok := strings.CutPrefix(tok, "s")
	if i := strings.IndexByte(num, '_'); i >= 0 {
		num = num[:i]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n < 0 || strings.HasPrefix(num, "+") {
		return 0, mautrix.MInvalidParam.WithMessage("Invalid pagination token %q", tok)
	}
	return stream.Position(n), nil
}
