package syncapi

import (
	"fmt"
	"strconv"
	"strings"

	"maunium.net/go/mautrix"

	"ward/internal/stream"
)

// Token is a /sync position: the server's stream position and the typing
// serial (typing lives in memory, so it has its own counter).
type Token struct {
	Pos    stream.Position
	Typing int64
}

// String encodes the token as "s<pos>_<typing>".
func (t Token) String() string { return fmt.Sprintf("s%d_%d", t.Pos, t.Typing) }

// ParseToken decodes a token made by String. A pagination token of the
// form "s<pos>" is accepted too.
func ParseToken(s string) (Token, error) {
	bad := mautrix.MInvalidParam.WithMessage("Invalid sync token %q", s)
	rest, ok := strings.CutPrefix(s, "s")
	if !ok {
		return Token{}, bad
	}
	posStr, typingStr, hasTyping := strings.Cut(rest, "_")
	pos, err := strconv.ParseInt(posStr, 10, 64)
	if err != nil || pos < 0 {
		return Token{}, bad
	}
	t := Token{Pos: stream.Position(pos)}
	if hasTyping {
		if t.Typing, err = strconv.ParseInt(typingStr, 10, 64); err != nil || t.Typing < 0 {
			return Token{}, bad
		}
	}
	return t, nil
}
