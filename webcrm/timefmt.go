package webcrm

import (
	"fmt"
	"strings"
	"time"
)

// WireTimeLayout is the layout webCRM (like .NET's "O" format in UTC) uses for
// timestamps; the client formats /Queries watermarks with it.
const WireTimeLayout = "2006-01-02T15:04:05.0000000Z"

// wireResolution is the precision of WireTimeLayout.
const wireResolution = 100 * time.Nanosecond

// FormatTime renders t in UTC with seven fraction digits, e.g. "2024-05-01T10:00:00.1234567Z".
// Sub-100ns precision is truncated, which is safe for ">=" watermarks.
func FormatTime(t time.Time) string {
	return t.UTC().Format(WireTimeLayout)
}

// ParseTime accepts the webCRM wire format and its relatives: RFC 3339 with or without
// fraction and offset ("Z" or ±hh:mm), and timestamps without an offset, which are
// taken as UTC. A bare date ("2006-01-02") is midnight UTC. The result is in UTC.
func ParseTime(s string) (time.Time, error) { return ParseTimeIn(s, time.UTC) }

// ParseTimeIn is ParseTime with timestamps that carry no offset taken as wall time in
// loc (an account that writes local time).
func ParseTimeIn(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty timestamp")
	}
	// Fractional seconds are accepted after the seconds field even though the
	// layouts do not mention them.
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised timestamp %q", excerpt([]byte(s), 64))
}
