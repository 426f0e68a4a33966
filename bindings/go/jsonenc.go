package allot

// Request documents are built by hand on the hot path (Evaluate and the Eppo
// assignments): appending to one buffer is several times cheaper than encoding/json's
// reflection for these small, fixed shapes. The output is what encoding/json would
// write, except that map keys keep Go's iteration order and "<", ">", "&" are not
// HTML-escaped. Values of unusual types fall back to encoding/json.

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal; invalid UTF-8 becomes U+FFFD, as
// with encoding/json.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloat appends a finite float as encoding/json does; NaN and infinities, which
// JSON cannot hold, become null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// appendValue appends any JSON-encodable value.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case uint:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10)
	case float64:
		return appendFloat(b, x)
	case float32:
		return appendFloat(b, float64(x))
	case json.Number:
		if x == "" {
			return append(b, '0')
		}
		return append(b, x...)
	case json.RawMessage:
		if x == nil {
			return append(b, "null"...)
		}
		return append(b, x...)
	case []string:
		return appendStrings(b, x)
	case []any:
		if x == nil {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	case map[string]any:
		return appendObject(b, x)
	case map[string]string:
		if x == nil {
			return append(b, "null"...)
		}
		b = append(b, '{')
		first := true
		for k, e := range x {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, e)
		}
		return append(b, '}')
	case Attributes:
		return appendObject(b, x)
	}
	enc, err := json.Marshal(v)
	if err != nil {
		// An unencodable value (a channel, a function, a cycle) is sent as null.
		return append(b, "null"...)
	}
	return append(b, enc...)
}

func appendObject(b []byte, m map[string]any) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	first := true
	for k, v := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = appendValue(b, v)
	}
	return append(b, '}')
}

func appendStrings(b []byte, s []string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, e := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, e)
	}
	return append(b, ']')
}

// appendField appends `,"name":"value"` (or without the comma first) when value is
// not empty.
func appendField(b []byte, first *bool, name, value string) []byte {
	if value == "" {
		return b
	}
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendKey appends `,"name":` (or without the comma first).
func appendKey(b []byte, first *bool, name string) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// appendUser appends the user object (the fields encoding/json would write for User).
func appendUser(b []byte, u *User) []byte {
	b = append(b, '{')
	first := true
	b = appendField(b, &first, "user_id", u.UserID)
	b = appendField(b, &first, "device_id", u.DeviceID)
	b = appendField(b, &first, "country", u.Country)
	b = appendField(b, &first, "city", u.City)
	b = appendField(b, &first, "region", u.Region)
	b = appendField(b, &first, "dma", u.DMA)
	b = appendField(b, &first, "language", u.Language)
	b = appendField(b, &first, "platform", u.Platform)
	b = appendField(b, &first, "version", u.Version)
	b = appendField(b, &first, "os", u.OS)
	b = appendField(b, &first, "device_manufacturer", u.DeviceManufacturer)
	b = appendField(b, &first, "device_brand", u.DeviceBrand)
	b = appendField(b, &first, "device_model", u.DeviceModel)
	b = appendField(b, &first, "carrier", u.Carrier)
	b = appendField(b, &first, "library", u.Library)
	b = appendField(b, &first, "ip_address", u.IPAddress)
	if len(u.UserProperties) > 0 {
		b = appendKey(b, &first, "user_properties")
		b = appendObject(b, u.UserProperties)
	}
	if len(u.Groups) > 0 {
		b = appendKey(b, &first, "groups")
		b = append(b, '{')
		firstGroup := true
		for k, names := range u.Groups {
			if !firstGroup {
				b = append(b, ',')
			}
			firstGroup = false
			b = appendString(b, k)
			b = append(b, ':')
			if names == nil {
				names = []string{}
			}
			b = appendStrings(b, names)
		}
		b = append(b, '}')
	}
	if len(u.GroupProperties) > 0 {
		b = appendKey(b, &first, "group_properties")
		b = appendValue(b, u.GroupProperties)
	}
	if len(u.CohortIDs) > 0 {
		b = appendKey(b, &first, "cohort_ids")
		b = appendStrings(b, u.CohortIDs)
	}
	if len(u.GroupCohortIDs) > 0 {
		b = appendKey(b, &first, "group_cohort_ids")
		b = appendValue(b, u.GroupCohortIDs)
	}
	return append(b, '}')
}

// appendEvaluateRequest appends {"user": ..., "flag_keys": [...], "tracks_...": ...}.
func appendEvaluateRequest(b []byte, u *User, flagKeys []string, o *requestOptions) []byte {
	b = append(b, `{"user":`...)
	b = appendUser(b, u)
	if len(flagKeys) > 0 {
		b = append(b, `,"flag_keys":`...)
		b = appendStrings(b, flagKeys)
	}
	if o != nil && o.TracksAssignment != nil {
		b = append(b, `,"tracks_assignment":`...)
		b = strconv.AppendBool(b, *o.TracksAssignment)
	}
	if o != nil && o.TracksExposure != nil {
		b = append(b, `,"tracks_exposure":`...)
		b = strconv.AppendBool(b, *o.TracksExposure)
	}
	return append(b, '}')
}
