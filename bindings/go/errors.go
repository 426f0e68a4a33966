package allot

import (
	"encoding/json"
	"fmt"
)

// Error is an error reported by the allot library. Code is one of the stable codes
// listed in the C header (for example "timeout" or "invalid_config"); Message is a
// human-readable description that never contains an API key.
//
// Match a code with errors.Is against the sentinel errors (errors.Is(err, ErrTimeout)),
// or get the details with errors.As:
//
//	var e *allot.Error
//	if errors.As(err, &e) { log.Print(e.Code, e.Message) }
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`

	cause error // a Go-side cause (such as context.DeadlineExceeded), for errors.Is
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "allot: " + e.Code
	}
	return "allot: " + e.Code + ": " + e.Message
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, allot.ErrTimeout) matches every timeout error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Unwrap returns the Go-side cause of the error, if any (for example
// context.DeadlineExceeded when Start gave up because its context ended).
func (e *Error) Unwrap() error { return e.cause }

// Sentinel errors, one per stable error code. Compare with errors.Is.
var (
	// ErrInvalidArgument: a required argument was missing, or a request had the wrong shape.
	ErrInvalidArgument = &Error{Code: "invalid_argument"}
	// ErrInvalidUTF8: a string argument was not valid UTF-8.
	ErrInvalidUTF8 = &Error{Code: "invalid_utf8"}
	// ErrInvalidJSON: a document was not syntactically valid JSON.
	ErrInvalidJSON = &Error{Code: "invalid_json"}
	// ErrInvalidConfig: the configuration was rejected (unknown field, wrong type, ...).
	ErrInvalidConfig = &Error{Code: "invalid_config"}
	// ErrInputTooLarge: an input exceeded its size cap (configuration 64 MiB, request 1 MiB).
	ErrInputTooLarge = &Error{Code: "input_too_large"}
	// ErrUnknownHandle: the client was closed (or never existed).
	ErrUnknownHandle = &Error{Code: "unknown_handle"}
	// ErrNotStarted: the client must be started before it evaluates.
	ErrNotStarted = &Error{Code: "not_started"}
	// ErrDependencyCycle: the flag configuration contains a dependency cycle.
	ErrDependencyCycle = &Error{Code: "dependency_cycle"}
	// ErrUnsupported: the operation is not available for this client.
	ErrUnsupported = &Error{Code: "unsupported"}
	// ErrInternal: a bug inside allot (a caught panic); please report it.
	ErrInternal = &Error{Code: "internal"}
	// ErrNetwork: a network failure (DNS, refused or reset connection, TLS, proxy).
	ErrNetwork = &Error{Code: "network"}
	// ErrTimeout: a request or a wait (such as Start) did not finish in time.
	ErrTimeout = &Error{Code: "timeout"}
	// ErrHTTPStatus: a server answered with an unsuccessful HTTP status.
	ErrHTTPStatus = &Error{Code: "http_status"}
	// ErrInvalidResponse: a server's answer could not be used.
	ErrInvalidResponse = &Error{Code: "invalid_response"}
	// ErrUnauthorized: the server rejected the key (HTTP 401 or 403).
	ErrUnauthorized = &Error{Code: "unauthorized"}
)

// errClosed is returned by every method of a closed client.
func errClosed(kind string) error {
	return &Error{Code: "unknown_handle", Message: kind + " is closed"}
}

// decodeError turns an error envelope's payload into an *Error.
func decodeError(raw []byte) error {
	var e Error
	if err := json.Unmarshal(raw, &e); err != nil || e.Code == "" {
		return &Error{Code: "internal", Message: fmt.Sprintf("undecodable error document from the library: %.200s", raw)}
	}
	return &e
}
