package allot

import "encoding/json"

// The Amplitude cookie functions read and write the cookie that Amplitude's browser
// SDKs keep the device id (and user id) in. newFormat selects the Browser SDK 2.0
// format ("AMP_" + 10 key characters, base64 of URL-encoded JSON) over the classic one
// ("amp_" + 6 key characters, dot-separated).

// AmplitudeCookieName returns the cookie's name for an API key; a key too short for
// the format is an ErrInvalidArgument.
func AmplitudeCookieName(apiKey string, newFormat bool) (string, error) {
	if hasNUL(apiKey) {
		return "", &Error{Code: "invalid_argument", Message: "the API key contains a NUL byte"}
	}
	doc, err := nativeCookieName(apiKey, newFormat)
	if err != nil {
		return "", err
	}
	return decodeStringDoc(doc)
}

// ParseAmplitudeCookie reads a cookie value into a User with DeviceID and UserID set; a
// value that does not decode gives an empty User, not an error.
func ParseAmplitudeCookie(value string, newFormat bool) (User, error) {
	if hasNUL(value) {
		return User{}, nil
	}
	doc, err := nativeCookieParse(value, newFormat)
	if err != nil {
		return User{}, err
	}
	var u User
	if err := json.Unmarshal(doc, &u); err != nil {
		return User{}, &Error{Code: "internal", Message: "undecodable cookie user: " + err.Error()}
	}
	return u, nil
}

// GenerateAmplitudeCookie returns a cookie value that carries a device id.
func GenerateAmplitudeCookie(deviceID string, newFormat bool) (string, error) {
	if hasNUL(deviceID) {
		return "", &Error{Code: "invalid_argument", Message: "the device id contains a NUL byte"}
	}
	doc, err := nativeCookieGenerate(deviceID, newFormat)
	if err != nil {
		return "", err
	}
	return decodeStringDoc(doc)
}

func decodeStringDoc(doc []byte) (string, error) {
	var s string
	if err := json.Unmarshal(doc, &s); err != nil {
		return "", &Error{Code: "internal", Message: "undecodable string: " + err.Error()}
	}
	return s, nil
}

// Murmur3 returns murmur3_x86_32 of input with seed, the hash allot buckets Amplitude
// users with (for cross-checks).
func Murmur3(input string, seed uint32) (uint32, error) {
	req, err := json.Marshal(struct {
		Input string `json:"input"`
		Seed  uint32 `json:"seed"`
	}{input, seed})
	if err != nil { // cannot happen: a string and a number always encode
		return 0, &Error{Code: "internal", Message: err.Error()}
	}
	doc, err := nativeMurmur3(req)
	if err != nil {
		return 0, err
	}
	var r struct {
		Hash uint32 `json:"hash"`
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return 0, &Error{Code: "internal", Message: "undecodable hash: " + err.Error()}
	}
	return r.Hash, nil
}
