package allot

import (
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ServerZone selects Amplitude's data centre; the zero value means ServerZoneUS.
type ServerZone string

const (
	ServerZoneUS ServerZone = "us" // api.lab.amplitude.com (the default)
	ServerZoneEU ServerZone = "eu" // flag.lab.eu.amplitude.com
)

// User is the user being evaluated, with the fields of Amplitude's SDK users. Empty
// strings and nil maps or slices are left out (an empty string is treated as absent).
type User struct {
	UserID             string `json:"user_id,omitempty"`
	DeviceID           string `json:"device_id,omitempty"`
	Country            string `json:"country,omitempty"`
	City               string `json:"city,omitempty"`
	Region             string `json:"region,omitempty"`
	DMA                string `json:"dma,omitempty"`
	Language           string `json:"language,omitempty"`
	Platform           string `json:"platform,omitempty"`
	Version            string `json:"version,omitempty"`
	OS                 string `json:"os,omitempty"`
	DeviceManufacturer string `json:"device_manufacturer,omitempty"`
	DeviceBrand        string `json:"device_brand,omitempty"`
	DeviceModel        string `json:"device_model,omitempty"`
	Carrier            string `json:"carrier,omitempty"`
	Library            string `json:"library,omitempty"`
	IPAddress          string `json:"ip_address,omitempty"`
	// UserProperties are custom properties; values are any JSON-encodable values.
	UserProperties map[string]any `json:"user_properties,omitempty"`
	// Groups maps a group type to group names; only the first name is used.
	Groups map[string][]string `json:"groups,omitempty"`
	// GroupProperties maps group type → group name → properties.
	GroupProperties map[string]map[string]map[string]any `json:"group_properties,omitempty"`
	// CohortIDs are the cohorts the user belongs to.
	CohortIDs []string `json:"cohort_ids,omitempty"`
	// GroupCohortIDs maps group type → group name → cohort ids.
	GroupCohortIDs map[string]map[string][]string `json:"group_cohort_ids,omitempty"`
}

// Variant is the result of one flag for one user.
type Variant struct {
	// Key is the variant key ("on", "control", "off", ...).
	Key string `json:"key"`
	// Value is the variant's value; empty when the variant has none. A non-string
	// value is given as its JSON text.
	Value string `json:"value,omitempty"`
	// Payload is the variant's JSON payload decoded with encoding/json (numbers are
	// float64), or nil.
	Payload any `json:"payload,omitempty"`
	// Metadata merges the flag's, the segment's and the variant's metadata
	// (flagType, flagVersion, segmentName, default, ...).
	Metadata map[string]any `json:"metadata,omitempty"`
}

// IsDefault reports whether the variant is the flag's default ("off") variant,
// served because no segment assigned the user (metadata "default": true).
func (v Variant) IsDefault() bool {
	d, _ := v.Metadata["default"].(bool)
	return d
}

// UnmarshalJSON decodes a variant, keeping a non-string value as JSON text.
func (v *Variant) UnmarshalJSON(b []byte) error {
	var wire struct {
		Key      string          `json:"key"`
		Value    json.RawMessage `json:"value"`
		Payload  any             `json:"payload"`
		Metadata map[string]any  `json:"metadata"`
	}
	if err := json.Unmarshal(b, &wire); err != nil {
		return err
	}
	*v = Variant{Key: wire.Key, Payload: wire.Payload, Metadata: wire.Metadata}
	if string(wire.Value) == "null" {
		return nil
	}
	var err error
	v.Value, err = jsonText(wire.Value)
	return err
}

// LocalConfig configures a local evaluation client. Every zero value means the
// documented default.
type LocalConfig struct {
	// Flags is a flag configuration (the JSON array served by /sdk/v2/flags) to start
	// from. With Flags or FlagsPath and no ServerURL, ServerZone or StreamUpdates, the
	// client is offline: it serves exactly this configuration and never connects.
	Flags json.RawMessage
	// FlagsPath is a file holding such an array (read when the client is created).
	FlagsPath string
	// ServerURL is the flag server; default by ServerZone (https://api.lab.amplitude.com).
	ServerURL string
	// ServerZone picks the default servers: ServerZoneUS (default) or ServerZoneEU.
	ServerZone ServerZone
	// FlagConfigPollingInterval is the time between polls; default 30 s.
	FlagConfigPollingInterval time.Duration
	// FlagConfigPollerRequestTimeout bounds each poll; default 10 s.
	FlagConfigPollerRequestTimeout time.Duration
	// StreamUpdates receives flag updates over server-sent events instead of polling.
	StreamUpdates bool
	// StreamServerURL is the stream server; default by ServerZone.
	StreamServerURL string
	// Debug makes the library log its background work to stderr.
	Debug bool
	// AssignmentConfig, when set, sends an "[Experiment] Assignment" event to Amplitude's
	// analytics API for each evaluation (de-duplicated for a day).
	AssignmentConfig *TrackingConfig
	// ExposureConfig, when set, lets evaluations ask for "[Experiment] Exposure" events
	// (WithTracksExposure(true)).
	ExposureConfig *TrackingConfig
	// CohortSync, when set, downloads the cohorts that flags target and evaluates users
	// with their memberships (the users' own CohortIDs are then ignored).
	CohortSync *CohortSyncConfig
}

// CohortSyncConfig configures cohort sync. Every zero value means the documented
// default.
type CohortSyncConfig struct {
	// APIKey and SecretKey are the project's keys (required; never logged or reported).
	APIKey, SecretKey string
	// MaxCohortSize: larger cohorts are not downloaded; default 2147483647.
	MaxCohortSize int
	// CohortPollingInterval is the time between refreshes; default and minimum 60 s
	// (the library raises shorter values to 60 s, as Amplitude's SDKs do).
	CohortPollingInterval time.Duration
	// CohortServerURL is the cohort server; default by the client's ServerZone
	// (https://cohort-v2.lab.amplitude.com).
	CohortServerURL string
	// RequestTimeout bounds each download request; default 10 s.
	RequestTimeout time.Duration
	// MaxConcurrentDownloads bounds the downloads in flight; default 4.
	MaxConcurrentDownloads int
}

type cohortSyncDoc struct {
	APIKey         string `json:"api_key"`
	SecretKey      string `json:"secret_key"`
	MaxCohortSize  *int   `json:"max_cohort_size,omitempty"`
	PollInterval   *int64 `json:"cohort_polling_interval_millis,omitempty"`
	ServerURL      string `json:"cohort_server_url,omitempty"`
	RequestTimeout *int64 `json:"cohort_request_timeout_millis,omitempty"`
	MaxConcurrent  *int   `json:"max_concurrent_downloads,omitempty"`
}

func (c *CohortSyncConfig) doc() *cohortSyncDoc {
	if c == nil {
		return nil
	}
	return &cohortSyncDoc{
		APIKey:         c.APIKey,
		SecretKey:      c.SecretKey,
		MaxCohortSize:  positiveInt(c.MaxCohortSize),
		PollInterval:   millis(c.CohortPollingInterval),
		ServerURL:      c.CohortServerURL,
		RequestTimeout: millis(c.RequestTimeout),
		MaxConcurrent:  positiveInt(c.MaxConcurrentDownloads),
	}
}

// TrackingConfig configures the delivery of assignment or exposure events. Every zero
// value means the documented default.
type TrackingConfig struct {
	// APIKey is the analytics API key (required).
	APIKey string
	// CacheCapacity bounds the de-duplication cache; default 65536.
	CacheCapacity int
	// ServerURL is the analytics server; default by ServerZone (https://api2.amplitude.com).
	ServerURL string
	// ServerZone picks the default server: ServerZoneUS (default) or ServerZoneEU.
	ServerZone ServerZone
	// FlushQueueSize sends a batch once this many events are queued; default 200.
	FlushQueueSize int
	// FlushInterval sends queued events at least this often; default 10 s.
	FlushInterval time.Duration
	// SendEvaluatedProps copies the user's context fields into each event.
	SendEvaluatedProps bool
	// MaxQueueSize bounds the queue (older events are dropped); default 16384.
	MaxQueueSize int
	// RequestTimeout bounds each delivery; default 10 s.
	RequestTimeout time.Duration
	// RetryBackoffMin and RetryBackoffMax bound the wait between retries; default 500 ms, 30 s.
	RetryBackoffMin, RetryBackoffMax time.Duration
	// ShutdownTimeout bounds the final delivery when the client closes; default 3 s.
	ShutdownTimeout time.Duration
	// Callback, when set, is called once per event with its delivery outcome, as the
	// Analytics SDKs' callback: code 200 and "Event sent successfully.", or the last
	// status (408 for a timeout, -1 without an answer) and why it was dropped. It runs on
	// a goroutine of the client's, one call at a time, in the library's order.
	Callback func(event map[string]any, code int, message string)
}

type trackingDoc struct {
	APIKey          string     `json:"api_key"`
	CacheCapacity   *int       `json:"cache_capacity,omitempty"`
	ServerURL       string     `json:"server_url,omitempty"`
	ServerZone      ServerZone `json:"server_zone,omitempty"`
	FlushQueueSize  *int       `json:"flush_queue_size,omitempty"`
	FlushInterval   *int64     `json:"flush_interval_millis,omitempty"`
	SendEvaluated   bool       `json:"send_evaluated_props,omitempty"`
	MaxQueueSize    *int       `json:"max_queue_size,omitempty"`
	RequestTimeout  *int64     `json:"request_timeout_millis,omitempty"`
	RetryMin        *int64     `json:"retry_backoff_min_millis,omitempty"`
	RetryMax        *int64     `json:"retry_backoff_max_millis,omitempty"`
	ShutdownTimeout *int64     `json:"shutdown_timeout_millis,omitempty"`
	DeliveryReports bool       `json:"delivery_reports,omitempty"`
}

func positiveInt(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}

func (t *TrackingConfig) doc() *trackingDoc {
	if t == nil {
		return nil
	}
	return &trackingDoc{
		APIKey:          t.APIKey,
		CacheCapacity:   positiveInt(t.CacheCapacity),
		ServerURL:       t.ServerURL,
		ServerZone:      t.ServerZone,
		FlushQueueSize:  positiveInt(t.FlushQueueSize),
		FlushInterval:   millis(t.FlushInterval),
		SendEvaluated:   t.SendEvaluatedProps,
		MaxQueueSize:    positiveInt(t.MaxQueueSize),
		RequestTimeout:  millis(t.RequestTimeout),
		RetryMin:        millis(t.RetryBackoffMin),
		RetryMax:        millis(t.RetryBackoffMax),
		ShutdownTimeout: millis(t.ShutdownTimeout),
		DeliveryReports: t.Callback != nil,
	}
}

// deliveryReport is one event's outcome (allot_delivery_reports).
type deliveryReport struct {
	Stream  string         `json:"stream"`
	Event   map[string]any `json:"event"`
	Code    int            `json:"code"`
	Message string         `json:"message"`
}

// callBack hands the delivery reports of the client `id` to the configs' callbacks until
// the client is freed. It holds no reference to the client, whose finalizer still runs.
func callBack(id uint64, assignment, exposure *TrackingConfig) {
	callbacks := map[string]func(map[string]any, int, string){}
	for stream, config := range map[string]*TrackingConfig{"assignment": assignment, "exposure": exposure} {
		if config != nil && config.Callback != nil {
			callbacks[stream] = config.Callback
		}
	}
	if len(callbacks) == 0 {
		return
	}
	go func() {
		for {
			doc, err := nativeDeliveryReports(id, 1000)
			if err != nil { // the client was freed
				return
			}
			var answer struct {
				Reports []deliveryReport `json:"reports"`
				Closed  bool             `json:"closed"`
			}
			if err := json.Unmarshal(doc, &answer); err != nil {
				return
			}
			for _, r := range answer.Reports {
				if callback := callbacks[r.Stream]; callback != nil {
					callback(r.Event, r.Code, r.Message)
				}
			}
			if answer.Closed {
				return
			}
		}
	}()
}

// RemoteConfig configures a remote evaluation client. Every zero value means the
// documented default.
type RemoteConfig struct {
	// ServerURL is the evaluation server; default by ServerZone (https://api.lab.amplitude.com).
	ServerURL string
	// ServerZone picks the default server: ServerZoneUS (default) or ServerZoneEU.
	ServerZone ServerZone
	// FetchTimeout bounds the first attempt; default 10 s.
	FetchTimeout time.Duration
	// FetchRetries is how many times a failed fetch (network error, 429, 5xx) is
	// retried; default 0.
	FetchRetries int
	// FetchRetryBackoffMin is the wait before the first retry; default 500 ms.
	FetchRetryBackoffMin time.Duration
	// FetchRetryBackoffMax caps the wait between retries; default 10 s.
	FetchRetryBackoffMax time.Duration
	// FetchRetryBackoffScalar multiplies the wait after each retry; default 1.5.
	FetchRetryBackoffScalar float64
	// FetchRetryTimeout bounds each retry; default 10 s.
	FetchRetryTimeout time.Duration
	// Debug makes the library log to stderr.
	Debug bool
}

// millis converts a positive duration to milliseconds for the configuration (at
// least 1 ms), or nil for the default.
func millis(d time.Duration) *int64 {
	if d <= 0 {
		return nil
	}
	ms := max(d.Milliseconds(), 1)
	return &ms
}

type localConfigDoc struct {
	Provider        string          `json:"provider"`
	Mode            string          `json:"mode"`
	APIKey          string          `json:"api_key,omitempty"`
	Flags           json.RawMessage `json:"flags,omitempty"`
	FlagsPath       string          `json:"flags_path,omitempty"`
	ServerURL       string          `json:"server_url,omitempty"`
	ServerZone      ServerZone      `json:"server_zone,omitempty"`
	PollInterval    *int64          `json:"flag_config_polling_interval_millis,omitempty"`
	PollTimeout     *int64          `json:"flag_config_poller_request_timeout_millis,omitempty"`
	StreamUpdates   bool            `json:"stream_updates,omitempty"`
	StreamServerURL string          `json:"stream_server_url,omitempty"`
	Debug           bool            `json:"debug,omitempty"`
	Assignment      *trackingDoc    `json:"assignment_config,omitempty"`
	Exposure        *trackingDoc    `json:"exposure_config,omitempty"`
	CohortSync      *cohortSyncDoc  `json:"cohort_sync,omitempty"`
}

type remoteConfigDoc struct {
	Provider     string     `json:"provider"`
	Mode         string     `json:"mode"`
	APIKey       string     `json:"api_key"`
	ServerURL    string     `json:"server_url,omitempty"`
	ServerZone   ServerZone `json:"server_zone,omitempty"`
	Timeout      *int64     `json:"fetch_timeout_millis,omitempty"`
	Retries      *int       `json:"fetch_retries,omitempty"`
	BackoffMin   *int64     `json:"fetch_retry_backoff_min_millis,omitempty"`
	BackoffMax   *int64     `json:"fetch_retry_backoff_max_millis,omitempty"`
	Scalar       *float64   `json:"fetch_retry_backoff_scalar,omitempty"`
	RetryTimeout *int64     `json:"fetch_retry_timeout_millis,omitempty"`
	Debug        bool       `json:"debug,omitempty"`
}

// LocalClient evaluates Amplitude flags locally, in microseconds, from a flag
// configuration it loads once (Flags, FlagsPath) or keeps in sync with Amplitude's
// servers. It is safe for concurrent use by any number of goroutines: evaluation
// reads an immutable snapshot, and configuration updates swap it atomically.
type LocalClient struct {
	h *handle
	// results caches the decoded results of the current snapshot (the fast lane).
	results atomic.Pointer[snapshotResults]
}

// NewLocalClient creates a local evaluation client for a deployment key. Call Start
// before Evaluate, and Close when done.
func NewLocalClient(apiKey string, cfg LocalConfig) (*LocalClient, error) {
	h, err := newHandle("LocalClient", localConfigDoc{
		Provider:        "amplitude",
		Mode:            "local",
		APIKey:          apiKey,
		Flags:           cfg.Flags,
		FlagsPath:       cfg.FlagsPath,
		ServerURL:       cfg.ServerURL,
		ServerZone:      cfg.ServerZone,
		PollInterval:    millis(cfg.FlagConfigPollingInterval),
		PollTimeout:     millis(cfg.FlagConfigPollerRequestTimeout),
		StreamUpdates:   cfg.StreamUpdates,
		StreamServerURL: cfg.StreamServerURL,
		Debug:           cfg.Debug,
		Assignment:      cfg.AssignmentConfig.doc(),
		Exposure:        cfg.ExposureConfig.doc(),
		CohortSync:      cfg.CohortSync.doc(),
	})
	if err != nil {
		return nil, err
	}
	c := &LocalClient{h: h}
	runtime.SetFinalizer(c, func(c *LocalClient) { c.h.forgotten() })
	callBack(h.id.Load(), cfg.AssignmentConfig, cfg.ExposureConfig)
	return c, nil
}

// Start loads the flag configuration: the bundled one at once, otherwise the first
// fetch from the server, after which the client keeps it up to date in the
// background. It waits until the configuration is loaded, a definite error occurs
// (such as ErrUnauthorized), or ctx ends; the context's deadline is the timeout
// (ErrTimeout, which also matches context.DeadlineExceeded). After a timeout the
// client keeps trying; Evaluate then returns no variants until a configuration
// arrives. Calling Start again is harmless.
func (c *LocalClient) Start(ctx context.Context) error {
	defer runtime.KeepAlive(c)
	_, err := c.h.start(ctx)
	return err
}

// Evaluate returns the variants of flagKeys (every flag when none are given) for a
// user: every flag that produced a variant, default variants and the parents of
// dependent flags included. A flag absent from the map gave no variant.
func (c *LocalClient) Evaluate(user User, flagKeys ...string) (map[string]Variant, error) {
	defer runtime.KeepAlive(c)
	id, err := c.h.get()
	if err != nil {
		return nil, err
	}
	if variants, ok, err := c.evaluateFast(id, &user, flagKeys, nil); ok {
		return variants, err
	}
	return evaluateJSON(id, &user, flagKeys, nil, nil)
}

// evaluateJSON evaluates through allot_evaluate (the JSON path). The user is encoded as
// the fast lane encodes it (appendUser), the rest of the request by encoding/json. The
// flag keys are copied: handed to json.Marshal as they are, Evaluate's variadic slice
// would be moved to the heap on every call, fast lane included.
func evaluateJSON(id uint64, user *User, flagKeys []string, tracksAssignment, tracksExposure *bool) (map[string]Variant, error) {
	req, err := json.Marshal(struct {
		User json.RawMessage `json:"user"`
		requestOptions
	}{appendUser(nil, user), requestOptions{slices.Clone(flagKeys), tracksAssignment, tracksExposure}})
	if err != nil { // a json.Number or json.RawMessage property that is not JSON
		return nil, &Error{Code: "invalid_json", Message: "the user: " + err.Error()}
	}
	doc, err := nativeEvaluate(id, req)
	if err != nil {
		return nil, err
	}
	return decodeVariants(doc)
}

// decodeVariants decodes {"variants": {flag: variant}}; no variants is an empty map.
// The library writes each possible result of a configuration as the same bytes, so a
// variant seen before is copied from jsonVariants instead of being decoded again.
func decodeVariants(doc []byte) (map[string]Variant, error) {
	var answer struct {
		Variants map[string]json.RawMessage `json:"variants"`
	}
	if err := json.Unmarshal(doc, &answer); err != nil {
		return nil, &Error{Code: "internal", Message: "undecodable variants: " + err.Error()}
	}
	variants := make(map[string]Variant, len(answer.Variants))
	for flag, raw := range answer.Variants {
		v, err := jsonVariants.decode(raw)
		if err != nil {
			return nil, &Error{Code: "internal", Message: "undecodable variants: " + err.Error()}
		}
		variants[flag] = v
	}
	return variants, nil
}

// variantCache maps a variant's JSON text to its decoded form. When full it is emptied
// (configurations change rarely, so it refills with the current results).
type variantCache struct {
	mu      sync.RWMutex
	entries map[string]cachedVariant
}

// maxCachedVariants bounds a variantCache.
const maxCachedVariants = 4096

// jsonVariants caches the variants of the JSON paths (Fetch, EvaluateWithOptions
// with tracking options), which the library sends in full with every answer.
var jsonVariants = variantCache{entries: map[string]cachedVariant{}}

func (c *variantCache) decode(raw []byte) (Variant, error) {
	c.mu.RLock()
	cached, ok := c.entries[string(raw)]
	c.mu.RUnlock()
	if !ok {
		var v Variant
		if err := json.Unmarshal(raw, &v); err != nil {
			return v, err
		}
		cached = newCachedVariant(v)
		c.mu.Lock()
		if len(c.entries) >= maxCachedVariants {
			clear(c.entries)
		}
		c.entries[string(raw)] = cached
		c.mu.Unlock()
	}
	return cached.fresh(), nil
}

// EvaluateWithOptions is Evaluate with options: WithFlagKeys, and, for clients with
// an AssignmentConfig or ExposureConfig, WithTracksAssignment (default on) and
// WithTracksExposure (default off).
func (c *LocalClient) EvaluateWithOptions(user User, opts ...Option) (map[string]Variant, error) {
	defer runtime.KeepAlive(c)
	id, err := c.h.get()
	if err != nil {
		return nil, err
	}
	var o requestOptions
	for _, opt := range opts {
		opt(&o)
	}
	var options []byte // the tracking options, when set, go as the fast lane's options object
	if o.TracksAssignment != nil || o.TracksExposure != nil {
		options, _ = json.Marshal(o) // strings and bools: it cannot fail
	}
	if variants, ok, err := c.evaluateFast(id, &user, o.FlagKeys, options); ok {
		return variants, err
	}
	return evaluateJSON(id, &user, o.FlagKeys, o.TracksAssignment, o.TracksExposure)
}

// Flush sends the queued assignment and exposure events, waiting until the queues
// are empty or ctx ends (ErrTimeout; the events stay queued). Clients without event
// tracking return at once.
func (c *LocalClient) Flush(ctx context.Context) error {
	defer runtime.KeepAlive(c)
	_, err := c.h.wait(ctx, nativeFlush)
	return err
}

// Status describes the client: whether it started, how many flags it has, where they
// came from, and the last background error.
func (c *LocalClient) Status() (Status, error) {
	defer runtime.KeepAlive(c)
	return c.h.status()
}

// Close stops the client's background work and frees it. Close is idempotent; after
// it every method returns ErrUnknownHandle. It always returns nil.
func (c *LocalClient) Close() error {
	c.h.close()
	runtime.SetFinalizer(c, nil)
	return nil
}

// RemoteClient evaluates flags on Amplitude's servers (remote evaluation). It is safe
// for concurrent use.
type RemoteClient struct {
	h *handle
}

// NewRemoteClient creates a remote evaluation client for a deployment key. Close it
// when done.
func NewRemoteClient(apiKey string, cfg RemoteConfig) (*RemoteClient, error) {
	doc := remoteConfigDoc{
		Provider:     "amplitude",
		Mode:         "remote",
		APIKey:       apiKey,
		ServerURL:    cfg.ServerURL,
		ServerZone:   cfg.ServerZone,
		Timeout:      millis(cfg.FetchTimeout),
		BackoffMin:   millis(cfg.FetchRetryBackoffMin),
		BackoffMax:   millis(cfg.FetchRetryBackoffMax),
		RetryTimeout: millis(cfg.FetchRetryTimeout),
		Debug:        cfg.Debug,
	}
	if cfg.FetchRetries > 0 {
		doc.Retries = &cfg.FetchRetries
	}
	if cfg.FetchRetryBackoffScalar > 0 {
		doc.Scalar = &cfg.FetchRetryBackoffScalar
	}
	h, err := newHandle("RemoteClient", doc)
	if err != nil {
		return nil, err
	}
	c := &RemoteClient{h: h}
	runtime.SetFinalizer(c, func(c *RemoteClient) { c.h.forgotten() })
	return c, nil
}

// Option adjusts one Fetch or EvaluateWithOptions.
type Option func(*requestOptions)

// FetchOption is the Option of Fetch.
type FetchOption = Option

type requestOptions struct {
	FlagKeys         []string `json:"flag_keys,omitempty"`
	TracksAssignment *bool    `json:"tracks_assignment,omitempty"`
	TracksExposure   *bool    `json:"tracks_exposure,omitempty"`
}

type fetchRequest struct {
	User *User `json:"user"`
	requestOptions
}

// WithFlagKeys evaluates only these flags (and their dependencies).
func WithFlagKeys(keys ...string) Option {
	return func(r *requestOptions) { r.FlagKeys = append(r.FlagKeys, keys...) }
}

// WithTracksAssignment tracks (or not) an assignment event for this call: remote
// clients ask the server; local clients need an AssignmentConfig.
func WithTracksAssignment(track bool) Option {
	return func(r *requestOptions) { r.TracksAssignment = &track }
}

// WithTracksExposure tracks (or not) exposure events for this call: remote clients ask
// the server; local clients need an ExposureConfig.
func WithTracksExposure(track bool) Option {
	return func(r *requestOptions) { r.TracksExposure = &track }
}

// Fetch evaluates flags for a user on Amplitude's servers, with the retries of the
// client's RemoteConfig. If ctx ends first, Fetch returns at once with an error
// matching ctx.Err() (ErrTimeout for a deadline); the request itself is bounded by
// FetchTimeout and FetchRetryTimeout.
func (c *RemoteClient) Fetch(ctx context.Context, user User, opts ...FetchOption) (map[string]Variant, error) {
	defer runtime.KeepAlive(c)
	id, err := c.h.get()
	if err != nil {
		return nil, err
	}
	req := fetchRequest{User: &user}
	for _, opt := range opts {
		opt(&req.requestOptions)
	}
	body, err := json.Marshal(&req)
	if err != nil {
		return nil, &Error{Code: "invalid_argument", Message: err.Error()}
	}
	if err := ctx.Err(); err != nil {
		return nil, contextError(err)
	}
	if ctx.Done() == nil {
		return fetchNow(id, body)
	}
	type result struct {
		variants map[string]Variant
		err      error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fetchNow(id, body)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.variants, r.err
	case <-ctx.Done():
		return nil, contextError(ctx.Err())
	}
}

func fetchNow(id uint64, body []byte) (map[string]Variant, error) {
	doc, err := nativeFetch(id, body)
	if err != nil {
		return nil, err
	}
	return decodeVariants(doc)
}

// contextError reports a context that ended: a deadline as an ErrTimeout that also
// matches context.DeadlineExceeded; a cancellation as the context's error.
func contextError(err error) error {
	if err == context.DeadlineExceeded {
		return &Error{Code: "timeout", Message: "the context deadline passed", cause: err}
	}
	return err
}

// Status describes the client: the server and the last fetch's outcome.
func (c *RemoteClient) Status() (Status, error) {
	defer runtime.KeepAlive(c)
	return c.h.status()
}

// Close frees the client. Close is idempotent and always returns nil.
func (c *RemoteClient) Close() error {
	c.h.close()
	runtime.SetFinalizer(c, nil)
	return nil
}
