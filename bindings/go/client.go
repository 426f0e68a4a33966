package allot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"
)

// handle owns one library handle. It is shared by every client type: the handle is
// swapped to zero exactly once by close, and a call that raced with close gets an
// unknown_handle error from the library (handles are never reused), never a crash.
type handle struct {
	id   atomic.Uint64
	kind string // "LocalClient", "RemoteClient", "EppoClient": for messages
}

// get returns the live handle, or the error of a closed client.
func (h *handle) get() (uint64, error) {
	id := h.id.Load()
	if id == 0 {
		return 0, errClosed(h.kind)
	}
	return id, nil
}

// close frees the handle once; later calls do nothing.
func (h *handle) close() {
	if id := h.id.Swap(0); id != 0 {
		nativeFree(id)
	}
}

// forgotten is the finalizer's safety net: a client that became unreachable without
// Close is closed here, and the leak in the program is logged.
func (h *handle) forgotten() {
	if id := h.id.Swap(0); id != 0 {
		log.Printf("allot: a %s was garbage-collected without Close; call Close when done with it (closed it now)", h.kind)
		nativeFree(id)
	}
}

// newHandle creates a library client from a configuration document.
func newHandle(kind string, config any) (*handle, error) {
	doc, err := json.Marshal(config)
	if err != nil {
		return nil, &Error{Code: "invalid_config", Message: err.Error()}
	}
	id, err := nativeInit(doc)
	if err != nil {
		return nil, err
	}
	h := &handle{kind: kind}
	h.id.Store(id)
	return h, nil
}

// startSlice is how long one allot_start call may block. Start waits in slices so that
// a cancelled context (or one without a deadline) is noticed promptly.
const startSlice = 100 * time.Millisecond

// start calls allot_start until the client is initialized, a non-timeout error occurs,
// or ctx ends. It returns the status document.
func (h *handle) start(ctx context.Context) ([]byte, error) {
	return h.wait(ctx, nativeStart)
}

// wait calls a waiting export (allot_start, allot_flush) in slices until it succeeds,
// fails with an error other than a timeout, or ctx ends.
func (h *handle) wait(ctx context.Context, call func(uint64, uint32) ([]byte, error)) ([]byte, error) {
	began := time.Now()
	for {
		id, err := h.get()
		if err != nil {
			return nil, err
		}
		wait := startSlice
		deadline, hasDeadline := ctx.Deadline()
		if hasDeadline {
			wait = min(wait, time.Until(deadline))
		}
		wait = max(wait, 0)
		status, err := call(id, uint32(min(wait.Milliseconds(), maxTimeoutMillis)))
		if err == nil || !errors.Is(err, ErrTimeout) {
			return status, err
		}
		if cerr := ctx.Err(); cerr != nil || (hasDeadline && !time.Now().Before(deadline)) {
			if cerr == nil {
				cerr = context.DeadlineExceeded
			}
			return nil, &Error{
				Code:    "timeout",
				Message: fmt.Sprintf("not done after %v (%v): %v", time.Since(began).Round(time.Millisecond), cerr, err),
				cause:   cerr,
			}
		}
	}
}

// status returns the decoded status document.
func (h *handle) status() (Status, error) {
	id, err := h.get()
	if err != nil {
		return Status{}, err
	}
	doc, err := nativeStatus(id)
	if err != nil {
		return Status{}, err
	}
	return decodeStatus(doc)
}

func decodeStatus(doc []byte) (Status, error) {
	var s Status
	if err := json.Unmarshal(doc, &s); err != nil {
		return Status{}, &Error{Code: "internal", Message: "undecodable status: " + err.Error()}
	}
	s.Raw = append(json.RawMessage(nil), doc...)
	return s, nil
}

// Status describes a client, as the library reports it (allot_status).
type Status struct {
	Provider    string `json:"provider"`         // "amplitude" or "eppo"
	Mode        string `json:"mode,omitempty"`   // "local" or "remote" (Amplitude)
	Started     bool   `json:"started"`          // Start was called
	Initialized bool   `json:"initialized"`      // a flag configuration is loaded
	FlagCount   int    `json:"flag_count"`       // flags in the loaded configuration
	Source      string `json:"source,omitempty"` // where the configuration came from
	// FlagErrors lists flags that were left out of the configuration because they did
	// not fit the model (the rest of the configuration is served).
	FlagErrors    []FlagError  `json:"flag_errors,omitempty"`
	LastSuccessAt *int64       `json:"last_success_at,omitempty"` // Unix ms of the last good fetch
	LastError     *StatusError `json:"last_error,omitempty"`      // the last fetch failure
	ETag          string       `json:"etag,omitempty"`            // of the served polled configuration
	ServerURL     string       `json:"server_url,omitempty"`      // the flag or evaluation server
	// StreamServerURL is the stream server when streaming is configured.
	StreamServerURL string `json:"stream_server_url,omitempty"`
	Polling         bool   `json:"polling"`   // a background thread keeps the flags up to date
	Streaming       bool   `json:"streaming"` // a stream is connected
	// CohortSync is the state of cohort sync, when configured (Amplitude local clients).
	CohortSync *CohortSyncStatus `json:"cohort_sync,omitempty"`
	// Raw is the whole status document, including fields not modelled here.
	Raw json.RawMessage `json:"-"`
}

// CohortSyncStatus is the state of cohort sync.
type CohortSyncStatus struct {
	ServerURL string `json:"server_url"` // the cohort server
	Polling   bool   `json:"polling"`    // a background thread refreshes the cohorts
	// PollingIntervalMillis is the time between refreshes (the library raises a shorter
	// configured interval to its 60 s minimum).
	PollingIntervalMillis int64                   `json:"polling_interval_millis"`
	Cohorts               map[string]CohortStatus `json:"cohorts"` // every cohort held or tried, by id
}

// CohortStatus is what is held about one cohort. A cohort whose download failed and
// that was never loaded has no MemberCount: flags evaluate as if no one were in it.
type CohortStatus struct {
	GroupType     string       `json:"group_type,omitempty"`      // "User" or a group type
	Size          *int64       `json:"size,omitempty"`            // as the server counts it
	MemberCount   *int64       `json:"member_count,omitempty"`    // distinct member ids held
	LastModified  *int64       `json:"last_modified,omitempty"`   // the server's, of the copy held
	LastSuccessAt *int64       `json:"last_success_at,omitempty"` // Unix ms of the last good download
	LastError     *StatusError `json:"last_error,omitempty"`      // the last download failure
}

// FlagError is a flag that could not be loaded.
type FlagError struct {
	FlagKey string `json:"flag_key"`
	Index   *int   `json:"index,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// StatusError is the last error of a client's background work.
type StatusError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	At      int64  `json:"at"` // Unix ms
}
