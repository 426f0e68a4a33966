package allot

// A small JSON decoder for the documents the library returns, on the hot path. It
// produces exactly what encoding/json produces for `any` (map[string]any, []any,
// float64, string, bool, nil) at a fraction of the cost: encoding/json validates the
// whole document before decoding, then walks it again through reflection, and the
// variants of a 60-flag evaluation made that cost several times the evaluation itself.
// Malformed input is an error, never a panic.

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

type scanner struct {
	b []byte
	i int
}

var errEnd = errors.New("unexpected end of JSON")

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", s.i, fmt.Sprintf(format, args...))
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		if s.i >= len(s.b) {
			return errEnd
		}
		return s.errorf("expected %q, found %q", c, s.b[s.i])
	}
	s.i++
	return nil
}

func (s *scanner) literal(word string) error {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.errorf("invalid literal")
	}
	s.i += len(word)
	return nil
}

// common strings are shared instead of allocated for every result.
var common = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"key", "value", "payload", "metadata", "flagType", "flagVersion",
		"segmentName", "deployed", "evaluationMode", "experimentKey", "default", "local", "remote",
		"release", "experiment", "mutual-exclusion-group", "holdout-group", "flagIds", "trackExposure",
		"on", "off", "control", "treatment", "All Other Users", "flag-dependencies", "true", "false"} {
		m[k] = k
	}
	return m
}()

// rawString returns the bytes between the quotes of a string without escapes, or
// ok=false when the string has escapes (the scanner is then at its start).
func (s *scanner) rawString() (raw []byte, ok bool, err error) {
	if err := s.expect('"'); err != nil {
		return nil, false, err
	}
	start := s.i
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], true, nil
		case c == '\\':
			s.i = start - 1
			return nil, false, nil
		case c < 0x20:
			s.i = i
			return nil, false, s.errorf("control character in string")
		}
	}
	return nil, false, errEnd
}

// str decodes a string; intern shares common strings.
func (s *scanner) str(intern bool) (string, error) {
	raw, ok, err := s.rawString()
	if err != nil {
		return "", err
	}
	if ok {
		if intern {
			if k, found := common[string(raw)]; found {
				return k, nil
			}
		}
		if !utf8.Valid(raw) {
			return string([]rune(string(raw))), nil // invalid bytes become U+FFFD, as encoding/json
		}
		return string(raw), nil
	}
	return s.escapedString()
}

func (s *scanner) escapedString() (string, error) {
	s.i++ // the opening quote
	out := make([]byte, 0, 32)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(out) {
				return string([]rune(string(out))), nil
			}
			return string(out), nil
		case c < 0x20:
			return "", s.errorf("control character in string")
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", errEnd
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if s.i+6 <= len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					if r2, err = s.hex4(); err != nil {
						return "", err
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						out = utf8.AppendRune(out, d)
						continue
					}
					s.i = save
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", s.errorf("invalid escape")
		}
	}
	return "", errEnd
}

func (s *scanner) hex4() (rune, error) {
	if s.i+4 > len(s.b) {
		return 0, errEnd
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, s.errorf("invalid \\u escape")
		}
	}
	s.i += 4
	return r, nil
}

func (s *scanner) numberBytes() ([]byte, error) {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.i++
			continue
		}
		break
	}
	if s.i == start {
		return nil, s.errorf("invalid character %q", s.b[start])
	}
	return s.b[start:s.i], nil
}

func (s *scanner) number() (float64, error) {
	raw, err := s.numberBytes()
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
	if err != nil {
		return 0, s.errorf("invalid number %q", raw)
	}
	return f, nil
}

// value decodes any JSON value as encoding/json decodes into an `any`.
func (s *scanner) value(depth int) (any, error) {
	if depth > 10000 {
		return nil, s.errorf("nested too deeply")
	}
	switch c := s.peek(); c {
	case '{':
		m := map[string]any{}
		err := s.object(func(key string) error {
			v, err := s.value(depth + 1)
			m[key] = v
			return err
		})
		return m, err
	case '[':
		s.i++
		list := []any{}
		if s.peek() == ']' {
			s.i++
			return list, nil
		}
		for {
			v, err := s.value(depth + 1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return list, nil
			default:
				return nil, s.errorf("expected ',' or ']'")
			}
		}
	case '"':
		return s.str(false)
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	case 'n':
		return nil, s.literal("null")
	case 0:
		return nil, errEnd
	default:
		return s.number()
	}
}

// object calls member for each key, with the scanner at the member's value; member
// must consume the value.
func (s *scanner) object(member func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		key, err := s.str(true)
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			if s.i >= len(s.b) {
				return errEnd
			}
			return s.errorf("expected ',' or '}'")
		}
	}
}

// skip consumes one value and returns its raw bytes.
func (s *scanner) skip() ([]byte, error) {
	s.ws()
	start := s.i
	switch s.peek() {
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return s.b[start:s.i], nil
				}
			case '"':
				if _, err := s.skipString(); err != nil {
					return nil, err
				}
				continue
			}
			s.i++
		}
		return nil, errEnd
	case '"':
		if _, err := s.skipString(); err != nil {
			return nil, err
		}
	case 't':
		if err := s.literal("true"); err != nil {
			return nil, err
		}
	case 'f':
		if err := s.literal("false"); err != nil {
			return nil, err
		}
	case 'n':
		if err := s.literal("null"); err != nil {
			return nil, err
		}
	case 0:
		return nil, errEnd
	default:
		if _, err := s.numberBytes(); err != nil {
			return nil, err
		}
	}
	return s.b[start:s.i], nil
}

func (s *scanner) skipString() ([]byte, error) {
	start := s.i
	s.i++
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return s.b[start:s.i], nil
		}
		s.i++
	}
	return nil, errEnd
}

// nullableString decodes a string or null ("").
func (s *scanner) nullableString() (string, error) {
	if s.peek() == 'n' {
		return "", s.literal("null")
	}
	return s.str(true)
}

func (s *scanner) end() error {
	if s.peek() != 0 {
		return s.errorf("unexpected data after the document")
	}
	return nil
}

// decodeVariantsDoc decodes {"variants": {flag: {key, value?, payload?, metadata?}}}.
// The library writes each possible result of a configuration as the same bytes, so a
// result seen before is copied from variantCache instead of being parsed again.
func decodeVariantsDoc(doc []byte) (map[string]Variant, error) {
	s := scanner{b: doc}
	variants := map[string]Variant{}
	err := s.object(func(key string) error {
		if key != "variants" {
			_, err := s.skip()
			return err
		}
		return s.object(func(flag string) error {
			raw, err := s.skip()
			if err != nil {
				return err
			}
			v, err := variantCache.decode(raw)
			variants[flag] = v
			return err
		})
	})
	if err == nil {
		err = s.end()
	}
	return variants, err
}

// resultCache maps a variant's JSON to its decoded form. Entries are never handed out:
// every hit is deep-copied, so callers may modify what they get.
type resultCache struct {
	mu      sync.RWMutex
	entries map[string]Variant
}

// resultCacheSize bounds the cache; when full it is emptied (configurations change
// rarely, so it refills with the current results).
const resultCacheSize = 4096

var variantCache = resultCache{entries: map[string]Variant{}}

func (c *resultCache) decode(raw []byte) (Variant, error) {
	c.mu.RLock()
	cached, ok := c.entries[string(raw)]
	c.mu.RUnlock()
	if ok {
		return cached.clone(), nil
	}
	sub := scanner{b: raw}
	v, err := sub.variant()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if len(c.entries) >= resultCacheSize {
		clear(c.entries)
	}
	c.entries[string(raw)] = v
	c.mu.Unlock()
	return v.clone(), nil
}

// clone copies the variant deeply (payload and metadata are JSON trees).
func (v Variant) clone() Variant {
	v.Payload = cloneJSON(v.Payload)
	if v.Metadata != nil {
		v.Metadata = cloneJSON(v.Metadata).(map[string]any)
	}
	return v
}

// cloneJSON copies a tree of map[string]any, []any and scalars.
func cloneJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = cloneJSON(e)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = cloneJSON(e)
		}
		return a
	default:
		return v
	}
}

func (s *scanner) variant() (Variant, error) {
	var v Variant
	err := s.object(func(key string) error {
		var err error
		switch key {
		case "key":
			v.Key, err = s.nullableString()
		case "value":
			switch s.peek() {
			case '"':
				v.Value, err = s.str(false)
			case 'n':
				err = s.literal("null")
			default: // a non-string value is kept as its JSON text
				var raw []byte
				raw, err = s.skip()
				v.Value = string(raw)
			}
		case "payload":
			v.Payload, err = s.value(0)
		case "metadata":
			if s.peek() == 'n' {
				return s.literal("null")
			}
			var m any
			m, err = s.value(0)
			if mm, ok := m.(map[string]any); ok {
				v.Metadata = mm
			} else if err == nil {
				err = s.errorf("metadata is not an object")
			}
		default:
			_, err = s.skip()
		}
		return err
	})
	return v, err
}

// decodeAssignment decodes an Eppo result {"value", "variation_key", "code",
// "allocation_key", "events", "details"?}; events and details stay raw.
func decodeAssignment(doc []byte, r *assignmentResult) error {
	s := scanner{b: doc}
	err := s.object(func(key string) error {
		var err error
		switch key {
		case "value":
			r.Value, err = s.skip()
		case "variation_key":
			r.variationKey, err = s.nullableString()
		case "code":
			r.Code, err = s.str(false)
		case "allocation_key":
			r.allocationKey, err = s.nullableString()
		case "events":
			if s.peek() == 'n' {
				return s.literal("null")
			}
			if err := s.expect('['); err != nil {
				return err
			}
			if s.peek() == ']' {
				s.i++
				return nil
			}
			for {
				raw, err := s.skip()
				if err != nil {
					return err
				}
				r.Events = append(r.Events, raw)
				switch s.peek() {
				case ',':
					s.i++
				case ']':
					s.i++
					return nil
				default:
					return s.errorf("expected ',' or ']'")
				}
			}
		case "details":
			r.Details, err = s.skip()
		default:
			_, err = s.skip()
		}
		return err
	})
	if err == nil {
		err = s.end()
	}
	return err
}

// decodeEventDoc decodes an assignment event; top-level string members that are not
// event fields are the split's extraLogging. The subject attributes are the caller's
// (the library echoes them unchanged), so they are not decoded again.
func decodeEventDoc(raw []byte, attrs Attributes) (AssignmentEvent, error) {
	event := AssignmentEvent{SubjectAttributes: attrs}
	if event.SubjectAttributes == nil {
		event.SubjectAttributes = Attributes{}
	}
	s := scanner{b: raw}
	err := s.object(func(key string) error {
		var err error
		switch key {
		case "featureFlag":
			event.FeatureFlag, err = s.str(false)
		case "allocation":
			event.Allocation, err = s.str(false)
		case "experiment":
			event.Experiment, err = s.str(false)
		case "variation":
			event.Variation, err = s.str(false)
		case "subject":
			event.Subject, err = s.str(false)
		case "timestamp":
			event.Timestamp, err = s.str(false)
		case "subjectAttributes":
			_, err = s.skip()
		case "metaData":
			event.MetaData = map[string]string{}
			err = s.object(func(k string) error {
				v, err := s.str(false)
				event.MetaData[k] = v
				return err
			})
		default:
			var v string
			if s.peek() == '"' {
				v, err = s.str(false)
			} else {
				var raw []byte
				raw, err = s.skip()
				v = string(raw)
			}
			if event.ExtraLogging == nil {
				event.ExtraLogging = map[string]string{}
			}
			event.ExtraLogging[key] = v
		}
		return err
	})
	if err == nil {
		err = s.end()
	}
	return event, err
}
