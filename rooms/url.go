package rooms

import "github.com/tidwall/gjson"

// containsURL reports whether content has a top-level "url" key
// (spec: RoomEventFilter contains_url).
func containsURL(content []byte) bool {
	return gjson.GetBytes(content, "url").Exists()
}
