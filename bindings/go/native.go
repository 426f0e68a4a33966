package allot

// The native layer: the only file that calls the C ABI. Every input is copied into C
// memory that is freed before the function returns; every returned string is copied
// into Go memory and released with allot_string_free in the same function. C never
// keeps a Go pointer.

/*
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <allot.h>
*/
import "C"

import (
	"bytes"
	"unsafe"
)

// maxTimeoutMillis is the largest timeout allot_start accepts (uint32 milliseconds).
const maxTimeoutMillis = 1<<32 - 1

// cString copies b into a NUL-terminated C string (C.CString for a byte slice, without
// the intermediate Go string). The caller frees it with C.free.
func cString(b []byte) *C.char {
	p := (*C.char)(C.malloc(C.size_t(len(b) + 1)))
	buf := unsafe.Slice((*byte)(unsafe.Pointer(p)), len(b)+1)
	copy(buf, b)
	buf[len(b)] = 0
	return p
}

// take copies a returned document into Go memory, frees the C string, and opens the
// envelope: the raw "ok" payload, or the *Error of an error document.
func take(p *C.char) ([]byte, error) {
	if p == nil { // the library promises never to return NULL; be safe anyway
		return nil, &Error{Code: "internal", Message: "the library returned NULL"}
	}
	// C.GoBytes (rather than C.GoString) hands the bytes to the JSON decoder without a
	// second copy; like C.GoString it copies, so freeing right after is safe.
	doc := C.GoBytes(unsafe.Pointer(p), C.int(C.strlen(p)))
	C.allot_string_free(p)
	return openEnvelope(doc)
}

var (
	okPrefix    = []byte(`{"ok":`)
	errorPrefix = []byte(`{"error":`)
)

// openEnvelope splits {"ok": <payload>} / {"error": {"code", "message"}}.
func openEnvelope(doc []byte) ([]byte, error) {
	if bytes.HasPrefix(doc, okPrefix) && len(doc) > len(okPrefix) && doc[len(doc)-1] == '}' {
		return doc[len(okPrefix) : len(doc)-1], nil
	}
	if bytes.HasPrefix(doc, errorPrefix) && len(doc) > len(errorPrefix) && doc[len(doc)-1] == '}' {
		return nil, decodeError(doc[len(errorPrefix) : len(doc)-1])
	}
	return nil, &Error{Code: "internal", Message: "unexpected document from the library: " + truncate(string(doc), 200)}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// hasNUL reports whether s cannot be passed as a C string.
func hasNUL(s string) bool { return bytes.IndexByte([]byte(s), 0) >= 0 }

func nativeInit(config []byte) (uint64, error) {
	c := cString(config)
	defer C.free(unsafe.Pointer(c))
	var errDoc *C.char
	h := C.allot_init(c, &errDoc)
	if h == 0 {
		if errDoc == nil {
			return 0, &Error{Code: "internal", Message: "allot_init failed without an error document"}
		}
		_, err := take(errDoc)
		if err == nil {
			err = &Error{Code: "internal", Message: "allot_init failed with an ok document"}
		}
		return 0, err
	}
	if errDoc != nil {
		C.allot_string_free(errDoc)
	}
	return uint64(h), nil
}

func nativeStart(h uint64, timeoutMillis uint32) ([]byte, error) {
	return take(C.allot_start(C.uint64_t(h), C.uint32_t(timeoutMillis)))
}

func nativeFlush(h uint64, timeoutMillis uint32) ([]byte, error) {
	return take(C.allot_flush(C.uint64_t(h), C.uint32_t(timeoutMillis)))
}

func nativeEvaluate(h uint64, request []byte) ([]byte, error) {
	c := cString(request)
	defer C.free(unsafe.Pointer(c))
	return take(C.allot_evaluate(C.uint64_t(h), c))
}

func nativeFetch(h uint64, request []byte) ([]byte, error) {
	c := cString(request)
	defer C.free(unsafe.Pointer(c))
	return take(C.allot_fetch(C.uint64_t(h), c))
}

func nativeStatus(h uint64) ([]byte, error) {
	return take(C.allot_status(C.uint64_t(h)))
}

func nativeFree(h uint64) {
	C.allot_free(C.uint64_t(h))
}

func nativeMurmur3(request []byte) ([]byte, error) {
	c := cString(request)
	defer C.free(unsafe.Pointer(c))
	return take(C.allot_murmur3(c))
}

func nativeCookieName(apiKey string, newFormat bool) ([]byte, error) {
	c := C.CString(apiKey)
	defer C.free(unsafe.Pointer(c))
	return take(C.allot_cookie_name(c, C.bool(newFormat)))
}

func nativeCookieParse(value string, newFormat bool) ([]byte, error) {
	c := C.CString(value)
	defer C.free(unsafe.Pointer(c))
	return take(C.allot_cookie_parse(c, C.bool(newFormat)))
}

func nativeCookieGenerate(deviceID string, newFormat bool) ([]byte, error) {
	c := C.CString(deviceID)
	defer C.free(unsafe.Pointer(c))
	return take(C.allot_cookie_generate(c, C.bool(newFormat)))
}

// Version returns the version of the linked allot library, such as "0.1.0".
func Version() string {
	return C.GoString(C.allot_version())
}
