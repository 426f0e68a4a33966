package allot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math"
	"runtime"
	"strconv"
	"time"
)

// Attributes are an Eppo subject's attributes: strings, numbers and booleans (and nil).
type Attributes map[string]any

// AssignmentLogger receives an event for each assignment that Eppo should log
// (matched allocations with doLog, deduplicated when EppoConfig.AssignmentCache is set).
// LogAssignment runs on the goroutine that asked for the assignment, after the
// evaluation; a panic in it is recovered and logged, never passed on to the caller.
type AssignmentLogger interface {
	LogAssignment(event AssignmentEvent)
}

// AssignmentLoggerFunc adapts a function to AssignmentLogger.
type AssignmentLoggerFunc func(event AssignmentEvent)

// LogAssignment calls f(event).
func (f AssignmentLoggerFunc) LogAssignment(event AssignmentEvent) { f(event) }

// AssignmentEvent is what Eppo expects to be written to the warehouse for an assignment.
type AssignmentEvent struct {
	FeatureFlag       string            `json:"featureFlag"`
	Allocation        string            `json:"allocation"`
	Experiment        string            `json:"experiment"` // "<flag>-<allocation>"
	Variation         string            `json:"variation"`
	Subject           string            `json:"subject"`
	SubjectAttributes Attributes        `json:"subjectAttributes"`
	Timestamp         string            `json:"timestamp"` // RFC 3339
	MetaData          map[string]string `json:"metaData"`  // sdkName, sdkVersion, coreVersion
	// ExtraLogging holds the split's extraLogging entries (sent flattened into the
	// top level of the event by Eppo's SDKs).
	ExtraLogging map[string]string `json:"extraLogging,omitempty"`
}

// AssignmentCacheConfig deduplicates assignment events: an event is skipped when the
// same subject was last logged for the flag with the same allocation and variation.
type AssignmentCacheConfig struct {
	Capacity int           // entries (subject × flag) kept, at least 1
	TTL      time.Duration // entries older than this are forgotten; 0 means never
}

// EppoConfig configures an Eppo client. Every zero value means the documented default.
type EppoConfig struct {
	// APIKey is the Eppo SDK key (required). It never appears in errors or logs.
	APIKey string
	// AssignmentLogger receives assignment events; nil drops them.
	AssignmentLogger AssignmentLogger
	// BaseURL is Eppo's API; default https://fscdn.eppo.cloud/api. With
	// InitialConfiguration or ConfigurationPath and no BaseURL, the client is offline:
	// it serves that configuration and never connects.
	BaseURL string
	// PollInterval is the time between configuration polls; default 30 s.
	PollInterval time.Duration
	// PollJitter is the largest random amount taken off each interval; default 3 s.
	PollJitter time.Duration
	// DisablePolling fetches the configuration once and never polls (without BaseURL,
	// a client given a configuration does not fetch at all).
	DisablePolling bool
	// InitialConfiguration is a Universal Flag Configuration (UFC) JSON document to
	// serve until the first poll succeeds.
	InitialConfiguration json.RawMessage
	// ConfigurationPath is a file holding such a document (read when the client is
	// created).
	ConfigurationPath string
	// InitialBandits is a bandit models JSON document (what Eppo serves at
	// /flag-config/v1/bandits) served with InitialConfiguration or ConfigurationPath.
	InitialBandits json.RawMessage
	// BanditsPath is a file holding such a document.
	BanditsPath string
	// AssignmentCache, when set, deduplicates assignment events.
	AssignmentCache *AssignmentCacheConfig
	// ErrorLog receives the panics recovered from AssignmentLogger; default log.Default().
	ErrorLog *log.Logger
}

type eppoConfigDoc struct {
	Provider             string          `json:"provider"`
	APIKey               string          `json:"api_key"`
	BaseURL              string          `json:"base_url,omitempty"`
	PollInterval         any             `json:"poll_interval_seconds,omitempty"`
	PollJitter           *float64        `json:"poll_jitter_seconds,omitempty"`
	InitialConfiguration json.RawMessage `json:"initial_configuration,omitempty"`
	ConfigurationPath    string          `json:"configuration_path,omitempty"`
	InitialBandits       json.RawMessage `json:"initial_bandits,omitempty"`
	BanditsPath          string          `json:"bandits_path,omitempty"`
	AssignmentCache      *cacheDoc       `json:"assignment_cache,omitempty"`
}

type cacheDoc struct {
	Capacity   int      `json:"capacity"`
	TTLSeconds *float64 `json:"ttl_seconds,omitempty"`
}

// jsonNull marshals as JSON null (a field that is present but null).
type jsonNull struct{}

func (jsonNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// EppoClient assigns Eppo flags locally from the Universal Flag Configuration, which
// it polls from Eppo in the background. Safe for concurrent use by any number of
// goroutines.
type EppoClient struct {
	h        *handle
	logger   AssignmentLogger
	errorLog *log.Logger
	// answers caches decoded fast-lane answers.
	answers answerCache
}

// NewEppoClient creates an Eppo client and starts loading its configuration without
// waiting for it (as Eppo's SDKs do): until the first configuration arrives,
// assignments return the default with code CONFIGURATION_MISSING. Use
// WaitForInitialization to wait. Close the client when done.
func NewEppoClient(cfg EppoConfig) (*EppoClient, error) {
	doc := eppoConfigDoc{
		Provider:             "eppo",
		APIKey:               cfg.APIKey,
		BaseURL:              cfg.BaseURL,
		InitialConfiguration: cfg.InitialConfiguration,
		ConfigurationPath:    cfg.ConfigurationPath,
		InitialBandits:       cfg.InitialBandits,
		BanditsPath:          cfg.BanditsPath,
	}
	switch {
	case cfg.DisablePolling:
		doc.PollInterval = jsonNull{}
	case cfg.PollInterval > 0:
		doc.PollInterval = cfg.PollInterval.Seconds()
	}
	if cfg.PollJitter > 0 {
		s := cfg.PollJitter.Seconds()
		doc.PollJitter = &s
	}
	if cfg.AssignmentCache != nil {
		doc.AssignmentCache = &cacheDoc{Capacity: cfg.AssignmentCache.Capacity}
		if cfg.AssignmentCache.TTL > 0 {
			s := cfg.AssignmentCache.TTL.Seconds()
			doc.AssignmentCache.TTLSeconds = &s
		}
	}
	h, err := newHandle("EppoClient", doc)
	if err != nil {
		return nil, err
	}
	// Start without waiting: loads a bundled configuration now, or begins polling. A
	// first fetch that already failed is not an error here: WaitForInitialization and
	// Status report it, as the vendor's client does.
	if _, err := nativeStart(h.id.Load(), 0); err != nil && !isFetchOutcome(err) {
		h.close()
		return nil, err
	}
	errorLog := cfg.ErrorLog
	if errorLog == nil {
		errorLog = log.Default()
	}
	c := &EppoClient{h: h, logger: cfg.AssignmentLogger, errorLog: errorLog}
	runtime.SetFinalizer(c, func(c *EppoClient) { c.h.forgotten() })
	return c, nil
}

// isFetchOutcome reports whether err is how a first fetch ended (or that it has not
// ended yet), rather than a problem with the client itself.
func isFetchOutcome(err error) bool {
	for _, outcome := range []error{ErrTimeout, ErrNetwork, ErrHTTPStatus, ErrInvalidResponse, ErrUnauthorized} {
		if errors.Is(err, outcome) {
			return true
		}
	}
	return false
}

// WaitForInitialization waits until a configuration is loaded, a definite error
// occurs (such as ErrUnauthorized), or ctx ends (ErrTimeout).
func (c *EppoClient) WaitForInitialization(ctx context.Context) error {
	defer runtime.KeepAlive(c)
	_, err := c.h.start(ctx)
	return err
}

// Status describes the client: whether a configuration is loaded, its flag count and
// environment, and flags that could not be loaded.
func (c *EppoClient) Status() (Status, error) {
	defer runtime.KeepAlive(c)
	return c.h.status()
}

// Close stops polling and frees the client. Close is idempotent and always returns nil.
func (c *EppoClient) Close() error {
	c.h.close()
	runtime.SetFinalizer(c, nil)
	return nil
}

// Variation types of Eppo flags.
const (
	typeString  = "STRING"
	typeInteger = "INTEGER"
	typeNumeric = "NUMERIC"
	typeBoolean = "BOOLEAN"
	typeJSON    = "JSON"
)

// Flag evaluation codes (AssignmentDetails.Code and EvaluationDetails.FlagEvaluationCode).
const (
	CodeMatch                        = "MATCH"
	CodeConfigurationMissing         = "CONFIGURATION_MISSING"
	CodeFlagUnrecognizedOrDisabled   = "FLAG_UNRECOGNIZED_OR_DISABLED"
	CodeDefaultAllocationNull        = "DEFAULT_ALLOCATION_NULL"
	CodeTypeMismatch                 = "TYPE_MISMATCH"
	CodeAssignmentError              = "ASSIGNMENT_ERROR"
	CodeUnexpectedConfigurationError = "UNEXPECTED_CONFIGURATION_ERROR"
)

// AssignmentDetails is a typed assignment with the evaluation that produced it.
type AssignmentDetails[T any] struct {
	// Variation is the assigned value, or the default when Code is not CodeMatch.
	Variation T
	// VariationKey is the matched variation's key ("" unless Code is CodeMatch).
	VariationKey string
	// AllocationKey is the matched allocation's key ("" unless Code is CodeMatch).
	AllocationKey string
	// Code is the flag evaluation code, such as CodeMatch or CodeTypeMismatch.
	Code string
	// Details explains the evaluation, as Eppo's SDKs do.
	Details EvaluationDetails
}

// EvaluationDetails is Eppo's evaluation-details document.
type EvaluationDetails struct {
	FlagKey                   string              `json:"flagKey"`
	SubjectKey                string              `json:"subjectKey"`
	SubjectAttributes         Attributes          `json:"subjectAttributes"`
	Timestamp                 string              `json:"timestamp"`
	ConfigFetchedAt           string              `json:"configFetchedAt"`
	ConfigPublishedAt         string              `json:"configPublishedAt"`
	EnvironmentName           string              `json:"environmentName"`
	FlagEvaluationCode        string              `json:"flagEvaluationCode"`
	FlagEvaluationDescription string              `json:"flagEvaluationDescription"`
	VariationKey              *string             `json:"variationKey"`
	VariationValue            any                 `json:"variationValue"`
	BanditKey                 *string             `json:"banditKey"`
	BanditAction              *string             `json:"banditAction"`
	MatchedRule               *MatchedRule        `json:"matchedRule"`
	MatchedAllocation         *AllocationDetails  `json:"matchedAllocation"`
	UnmatchedAllocations      []AllocationDetails `json:"unmatchedAllocations"`
	UnevaluatedAllocations    []AllocationDetails `json:"unevaluatedAllocations"`
}

// MatchedRule is the rule that matched, as configured.
type MatchedRule struct {
	Conditions []RuleCondition `json:"conditions"`
}

// RuleCondition is one condition of a rule.
type RuleCondition struct {
	Attribute string `json:"attribute"`
	Operator  string `json:"operator"`
	Value     any    `json:"value"`
}

// AllocationDetails is one allocation's part in an evaluation.
type AllocationDetails struct {
	Key                      string `json:"key"`
	AllocationEvaluationCode string `json:"allocationEvaluationCode"`
	OrderPosition            int    `json:"orderPosition"`
}

// assignRequest is the allot_evaluate request of an Eppo assignment (the JSON path).
type assignRequest struct {
	FlagKey    string `json:"flag_key"`
	SubjectKey string `json:"subject_key"`
	// SubjectAttributes are encoded as the fast lane encodes them (appendObject).
	SubjectAttributes json.RawMessage `json:"subject_attributes,omitempty"`
	VariationType     string          `json:"variation_type"`
	Default           any             `json:"default"`
	Details           bool            `json:"details,omitempty"`
}

// assignmentResult is the allot_evaluate answer of an Eppo assignment.
type assignmentResult struct {
	Value         json.RawMessage   `json:"value"`
	VariationKey  string            `json:"variation_key"`
	Code          string            `json:"code"`
	AllocationKey string            `json:"allocation_key"`
	Events        []json.RawMessage `json:"events"`
	Details       json.RawMessage   `json:"details"`
}

// assign evaluates one assignment through the JSON path, hands its events to the logger
// and returns the raw result. A JSON default is encoded as attribute values are
// (appendValue: NaN, infinities and unencodable values become null), the others by
// encoding/json.
func (c *EppoClient) assign(flagKey, subjectKey string, attrs Attributes, variationType string, def any, details bool) (*assignmentResult, error) {
	defer runtime.KeepAlive(c)
	id, err := c.h.get()
	if err != nil {
		return nil, err
	}
	request := assignRequest{FlagKey: flagKey, SubjectKey: subjectKey, VariationType: variationType, Default: def, Details: details}
	if variationType == typeJSON {
		request.Default = json.RawMessage(appendValue(nil, def))
	}
	if len(attrs) > 0 {
		request.SubjectAttributes = appendObject(nil, attrs)
	}
	body, err := json.Marshal(&request)
	if err != nil { // a json.Number or json.RawMessage value that is not JSON
		return nil, &Error{Code: "invalid_json", Message: "the assignment request: " + err.Error()}
	}
	doc, err := nativeEvaluate(id, body)
	if err != nil {
		return nil, err
	}
	r := new(assignmentResult)
	if err := json.Unmarshal(doc, r); err != nil {
		return nil, &Error{Code: "internal", Message: "undecodable assignment: " + err.Error()}
	}
	if c.logger != nil {
		for _, raw := range r.Events {
			c.logEvent(raw, attrs)
		}
	}
	return r, nil
}

// logEvent decodes an event and calls the logger, recovering a panic.
func (c *EppoClient) logEvent(raw json.RawMessage, attrs Attributes) {
	event, err := decodeEvent(raw, attrs)
	if err != nil {
		c.errorLog.Printf("allot: undecodable assignment event: %v", err)
		return
	}
	c.deliver(event)
}

// decodeEvent decodes an assignment event of the JSON path; top-level members that are
// not event fields are the split's extraLogging. The subject attributes are the caller's
// (the library echoes them unchanged), so they are not decoded again.
func decodeEvent(raw []byte, attrs Attributes) (AssignmentEvent, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return AssignmentEvent{}, err
	}
	event := AssignmentEvent{SubjectAttributes: attrs}
	if event.SubjectAttributes == nil {
		event.SubjectAttributes = Attributes{}
	}
	fields := map[string]any{
		"featureFlag": &event.FeatureFlag, "allocation": &event.Allocation, "experiment": &event.Experiment,
		"variation": &event.Variation, "subject": &event.Subject, "timestamp": &event.Timestamp,
		"metaData": &event.MetaData,
	}
	for key, value := range members {
		var err error
		if field, ok := fields[key]; ok {
			err = json.Unmarshal(value, field)
		} else if key != "subjectAttributes" {
			if event.ExtraLogging == nil {
				event.ExtraLogging = map[string]string{}
			}
			event.ExtraLogging[key], err = jsonText(value)
		}
		if err != nil {
			return event, err
		}
	}
	return event, nil
}

// deliver calls the logger, recovering a panic.
func (c *EppoClient) deliver(event AssignmentEvent) {
	defer func() {
		if p := recover(); p != nil {
			c.errorLog.Printf("allot: AssignmentLogger.LogAssignment panicked (recovered): %v", p)
		}
	}()
	c.logger.LogAssignment(event)
}

// details fills an AssignmentDetails from a result.
func fillDetails[T any](r *assignmentResult, value T) (AssignmentDetails[T], error) {
	d := AssignmentDetails[T]{
		Variation:     value,
		VariationKey:  r.VariationKey,
		AllocationKey: r.AllocationKey,
		Code:          r.Code,
	}
	if len(r.Details) > 0 {
		if err := json.Unmarshal(r.Details, &d.Details); err != nil {
			return d, &Error{Code: "internal", Message: "undecodable details: " + err.Error()}
		}
	}
	return d, nil
}

func badValue(v []byte, err error) error {
	return &Error{Code: "internal", Message: fmt.Sprintf("assignment value %.100s: %v", v, err)}
}

func decodeString(v []byte) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", badValue(v, err)
	}
	return s, nil
}

func decodeBool(v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badValue(v, fmt.Errorf("not a boolean"))
}

func decodeInt(v []byte) (int64, error) {
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return n, nil
	}
	// An integral value written with a fraction or exponent (3.0, 1e3).
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f != float64(int64(f)) {
		return 0, badValue(v, fmt.Errorf("not an integer"))
	}
	return int64(f), nil
}

func decodeFloat(v []byte) (float64, error) {
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, badValue(v, err)
	}
	return f, nil
}

func decodeJSON(v []byte) (any, error) {
	var out any
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, badValue(v, err)
	}
	return out, nil
}

// typed is one typed assignment: through the fast lane, or (for keys holding a NUL
// byte, which C strings cannot carry) the JSON path.
func typed[T any](c *EppoClient, flagKey, subjectKey string, attrs Attributes, fastType int, variationType string,
	def T, decode func([]byte) (T, error)) (T, error) {
	defer runtime.KeepAlive(c)
	id, err := c.h.get()
	if err != nil {
		return def, err
	}
	a, ok, err := c.assignFast(id, flagKey, subjectKey, attrs, fastType)
	if ok {
		if err != nil || !a.served {
			return def, err
		}
		if fastType == fastString {
			return any(a.value).(T), nil
		}
		v, err := decode([]byte(a.value))
		if err != nil {
			return def, err
		}
		return v, nil
	}
	r, err := c.assign(flagKey, subjectKey, attrs, variationType, def, false)
	if err != nil {
		return def, err
	}
	v, err := decode(r.Value)
	if err != nil {
		return def, err
	}
	return v, nil
}

// withDetails is one typed assignment with its evaluation details (the JSON path).
func withDetails[T any](c *EppoClient, flagKey, subjectKey string, attrs Attributes, variationType string,
	def T, decode func([]byte) (T, error)) (AssignmentDetails[T], error) {
	r, err := c.assign(flagKey, subjectKey, attrs, variationType, def, true)
	if err != nil {
		return AssignmentDetails[T]{Variation: def}, err
	}
	v, err := decode(r.Value)
	if err != nil {
		return AssignmentDetails[T]{Variation: def}, err
	}
	return fillDetails(r, v)
}

// GetStringAssignment returns the STRING flag's variation for a subject, or def when
// the subject gets none (no match, unknown flag, wrong type, no configuration yet).
// An error is returned only when the client cannot evaluate at all (closed, or a
// request the library rejects); the value is then def.
func (c *EppoClient) GetStringAssignment(flagKey, subjectKey string, attrs Attributes, def string) (string, error) {
	return typed(c, flagKey, subjectKey, attrs, fastString, typeString, def, decodeString)
}

// GetBooleanAssignment returns the BOOLEAN flag's variation, or def (see GetStringAssignment).
func (c *EppoClient) GetBooleanAssignment(flagKey, subjectKey string, attrs Attributes, def bool) (bool, error) {
	return typed(c, flagKey, subjectKey, attrs, fastBoolean, typeBoolean, def, decodeBool)
}

// GetIntegerAssignment returns the INTEGER flag's variation, or def (see GetStringAssignment).
func (c *EppoClient) GetIntegerAssignment(flagKey, subjectKey string, attrs Attributes, def int64) (int64, error) {
	return typed(c, flagKey, subjectKey, attrs, fastInteger, typeInteger, def, decodeInt)
}

// checkNumericDefault rejects a NUMERIC default that cannot be sent (NaN, infinities).
func checkNumericDefault(def float64) error {
	if math.IsNaN(def) || math.IsInf(def, 0) {
		return &Error{Code: "invalid_argument", Message: "the default of a NUMERIC assignment must be a finite number"}
	}
	return nil
}

// GetNumericAssignment returns the NUMERIC flag's variation, or def (see GetStringAssignment).
func (c *EppoClient) GetNumericAssignment(flagKey, subjectKey string, attrs Attributes, def float64) (float64, error) {
	if err := checkNumericDefault(def); err != nil {
		return def, err
	}
	return typed(c, flagKey, subjectKey, attrs, fastNumeric, typeNumeric, def, decodeFloat)
}

// GetJSONAssignment returns the JSON flag's variation decoded with encoding/json
// (objects are map[string]any), or def (see GetStringAssignment).
func (c *EppoClient) GetJSONAssignment(flagKey, subjectKey string, attrs Attributes, def any) (any, error) {
	return typed(c, flagKey, subjectKey, attrs, fastJSON, typeJSON, def, decodeJSON)
}

// GetStringAssignmentDetails is GetStringAssignment with the evaluation details.
func (c *EppoClient) GetStringAssignmentDetails(flagKey, subjectKey string, attrs Attributes, def string) (AssignmentDetails[string], error) {
	return withDetails(c, flagKey, subjectKey, attrs, typeString, def, decodeString)
}

// GetBooleanAssignmentDetails is GetBooleanAssignment with the evaluation details.
func (c *EppoClient) GetBooleanAssignmentDetails(flagKey, subjectKey string, attrs Attributes, def bool) (AssignmentDetails[bool], error) {
	return withDetails(c, flagKey, subjectKey, attrs, typeBoolean, def, decodeBool)
}

// GetIntegerAssignmentDetails is GetIntegerAssignment with the evaluation details.
func (c *EppoClient) GetIntegerAssignmentDetails(flagKey, subjectKey string, attrs Attributes, def int64) (AssignmentDetails[int64], error) {
	return withDetails(c, flagKey, subjectKey, attrs, typeInteger, def, decodeInt)
}

// GetNumericAssignmentDetails is GetNumericAssignment with the evaluation details.
func (c *EppoClient) GetNumericAssignmentDetails(flagKey, subjectKey string, attrs Attributes, def float64) (AssignmentDetails[float64], error) {
	if err := checkNumericDefault(def); err != nil {
		return AssignmentDetails[float64]{Variation: def}, err
	}
	return withDetails(c, flagKey, subjectKey, attrs, typeNumeric, def, decodeFloat)
}

// GetJSONAssignmentDetails is GetJSONAssignment with the evaluation details.
func (c *EppoClient) GetJSONAssignmentDetails(flagKey, subjectKey string, attrs Attributes, def any) (AssignmentDetails[any], error) {
	return withDetails(c, flagKey, subjectKey, attrs, typeJSON, def, decodeJSON)
}
