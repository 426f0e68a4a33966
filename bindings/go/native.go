package allot

// The native layer: the only file that calls the C ABI. JSON-path inputs are copied into
// C memory that is freed before the function returns; every returned string is copied
// into Go memory and released with allot_string_free in the same function. Fast-lane
// calls pass Go byte slices (inputs and the answer buffer, which hold no Go pointers)
// for the duration of the call only. C never keeps a Go pointer.

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

func nativeDeliveryReports(h uint64, timeoutMillis uint32) ([]byte, error) {
	return take(C.allot_delivery_reports(C.uint64_t(h), C.uint32_t(timeoutMillis)))
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

// fastCall runs a fast-lane export into *buf, growing it until the answer fits; the
// answer is a slice of *buf (valid until the buffer is reused), or the *Error of an
// error document.
func fastCall(buf *[]byte, call func(out *C.uint8_t, capacity C.size_t) C.int64_t) ([]byte, error) {
	for {
		b := *buf
		n := int64(call((*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))))
		length := n
		if length < 0 {
			length = -length
		}
		if length > int64(len(b)) {
			*buf = make([]byte, length)
			continue
		}
		if n < 0 {
			_, err := openEnvelope(append([]byte(nil), b[:length]...))
			if err == nil {
				err = &Error{Code: "internal", Message: "a fast-lane error without an error document"}
			}
			return nil, err
		}
		return b[:n], nil
	}
}

// cPointer is a pointer to in[at] for C (in holds NUL-terminated strings and no Go
// pointers; C does not keep it), or NULL when at is negative.
func cPointer(in []byte, at int) *C.char {
	if at < 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&in[at]))
}

// nativeEvaluateCompact calls allot_evaluate_compact; user and keys (nil for every
// flag) are NUL-terminated.
func nativeEvaluateCompact(h uint64, user, keys []byte, buf *[]byte) ([]byte, error) {
	keysAt := -1
	if keys != nil {
		keysAt = 0
	}
	return fastCall(buf, func(out *C.uint8_t, capacity C.size_t) C.int64_t {
		return C.allot_evaluate_compact(C.uint64_t(h), cPointer(user, 0), cPointer(keys, keysAt), out, capacity)
	})
}

// nativeResultJSON calls allot_result_json; an empty answer means the snapshot is no
// longer current. The answer is a fresh slice.
func nativeResultJSON(h, snapshot uint64, id uint32) ([]byte, error) {
	buf := make([]byte, 512)
	return fastCall(&buf, func(out *C.uint8_t, capacity C.size_t) C.int64_t {
		return C.allot_result_json(C.uint64_t(h), C.uint64_t(snapshot), C.uint32_t(id), out, capacity)
	})
}

// nativeEppoAssign calls allot_eppo_assign; in holds the NUL-terminated flag key at 0,
// subject key at subjectAt and attributes JSON at attrsAt (negative for none).
func nativeEppoAssign(h uint64, in []byte, subjectAt, attrsAt, variationType int, wantsEvent bool, buf *[]byte) ([]byte, error) {
	return fastCall(buf, func(out *C.uint8_t, capacity C.size_t) C.int64_t {
		return C.allot_eppo_assign(C.uint64_t(h), cPointer(in, 0), cPointer(in, subjectAt), cPointer(in, attrsAt),
			C.uint32_t(variationType), C.bool(wantsEvent), out, capacity)
	})
}

// libraryVersion is Version(), read once (events carry it).
var libraryVersion = Version()

// Version returns the version of the linked allot library, such as "0.1.0".
func Version() string {
	return C.GoString(C.allot_version())
}
