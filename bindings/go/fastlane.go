package allot

// The fast lane: allot_evaluate_compact / allot_result_json for Amplitude and
// allot_eppo_assign for Eppo. Answers are written into Go buffers (C never keeps them);
// an Amplitude result is decoded (encoding/json) once per configuration snapshot and
// copied for each caller, so callers may modify what they get; an Eppo answer is decoded
// once per flag and split, and a call then decodes only its value (for JSON flags with
// encoding/json).

import (
	"encoding/binary"
	"encoding/json"
	"maps"
	"slices"
	"sync"
)

// fastResult is one decoded result of a snapshot: the flag and its variant.
type fastResult struct {
	flag string
	cachedVariant
}

// cachedVariant is a decoded variant kept in a cache, and whether its payload and
// metadata hold nested containers (copied deeply) or not (copied by maps.Clone /
// slices.Clone, several times cheaper). It is never handed out: callers get fresh().
type cachedVariant struct {
	variant                   Variant
	nestedPayload, nestedMeta bool
}

func newCachedVariant(v Variant) cachedVariant {
	return cachedVariant{variant: v, nestedPayload: nested(v.Payload), nestedMeta: nested(v.Metadata)}
}

// fresh is a copy of the variant that shares nothing mutable with the cache.
func (r *cachedVariant) fresh() Variant {
	v := r.variant
	switch p := v.Payload.(type) {
	case map[string]any:
		if r.nestedPayload {
			v.Payload = cloneJSON(p)
		} else {
			v.Payload = maps.Clone(p)
		}
	case []any:
		if r.nestedPayload {
			v.Payload = cloneJSON(p)
		} else {
			v.Payload = slices.Clone(p)
		}
	}
	if v.Metadata != nil {
		if r.nestedMeta {
			v.Metadata = cloneJSON(v.Metadata).(map[string]any)
		} else {
			v.Metadata = maps.Clone(v.Metadata)
		}
	}
	return v
}

// nested reports whether a decoded JSON value holds a container inside a container.
func nested(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			if isContainer(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if isContainer(e) {
				return true
			}
		}
	}
	return false
}

func isContainer(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
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

// snapshotResults caches the decoded results of one configuration snapshot. A new
// snapshot id replaces the whole cache; entries are never changed in place.
type snapshotResults struct {
	id      uint64
	mu      sync.RWMutex
	results map[uint32]fastResult
}

func (r *snapshotResults) get(id uint32) (fastResult, bool) {
	r.mu.RLock()
	result, ok := r.results[id]
	r.mu.RUnlock()
	return result, ok
}

func (r *snapshotResults) put(id uint32, result fastResult) {
	r.mu.Lock()
	r.results[id] = result
	r.mu.Unlock()
}

// maxSnapshotRetries bounds how often an evaluation restarts because the configuration
// changed between the evaluation and a result lookup.
const maxSnapshotRetries = 8

// evaluateFast evaluates through the fast lane: flagKeys, or options (when not nil: the
// JSON object of allot_evaluate_compact's options, which then holds the flag keys). ok is
// false when the configuration kept changing under it (the caller then uses the JSON path).
func (c *LocalClient) evaluateFast(id uint64, user *User, flagKeys []string, options []byte) (variants map[string]Variant, ok bool, err error) {
	pooled := getBuffer()
	defer putBuffer(pooled)
	b := append(appendUser((*pooled)[:0], user), 0)
	userEnd := len(b)
	if options != nil {
		b = append(append(b, options...), 0)
	} else if len(flagKeys) > 0 {
		b = append(appendStrings(b, flagKeys), 0)
	}
	*pooled = b
	in, keys := b[:userEnd], b[userEnd:]
	if len(keys) == 0 {
		keys = nil
	}
	buf := getBuffer()
	defer putBuffer(buf)
	for attempt := 0; attempt < maxSnapshotRetries; attempt++ {
		answer, err := nativeEvaluateCompact(id, in, keys, buf)
		if err != nil {
			return nil, true, err
		}
		snapshot := binary.LittleEndian.Uint64(answer)
		count := int(binary.LittleEndian.Uint32(answer[8:]))
		variants = make(map[string]Variant, count)
		if snapshot == 0 {
			return variants, true, nil
		}
		cache := c.results.Load()
		if cache == nil || cache.id != snapshot {
			cache = &snapshotResults{id: snapshot, results: map[uint32]fastResult{}}
			c.results.Store(cache)
		}
		current := true
		for i := 0; i < count && current; i++ {
			rid := binary.LittleEndian.Uint32(answer[12+4*i:])
			result, found := cache.get(rid)
			if !found {
				result, current, err = lookupResult(id, snapshot, rid)
				if err != nil {
					return nil, true, err
				}
				if current {
					cache.put(rid, result)
				}
			}
			variants[result.flag] = result.fresh()
		}
		if current {
			return variants, true, nil
		}
	}
	return nil, false, nil
}

// lookupResult fetches and decodes one result; current is false when the snapshot is
// no longer the client's.
func lookupResult(id, snapshot uint64, rid uint32) (result fastResult, current bool, err error) {
	doc, err := nativeResultJSON(id, snapshot, rid)
	if err != nil || len(doc) == 0 {
		return result, false, err
	}
	var r struct {
		FlagKey string  `json:"flag_key"`
		Variant Variant `json:"variant"`
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return result, false, &Error{Code: "internal", Message: "undecodable result: " + err.Error()}
	}
	return fastResult{flag: r.FlagKey, cachedVariant: newCachedVariant(r.Variant)}, true, nil
}

// Variation type numbers of allot_eppo_assign.
const (
	fastString = iota
	fastInteger
	fastNumeric
	fastBoolean
	fastJSON
)

// fastAssignment is a decoded allot_eppo_assign answer.
type fastAssignment struct {
	served bool
	code   string
	// value is the string itself for STRING flags, otherwise JSON text.
	value, variationKey, allocationKey string
	// experiment is the event's "<flag>-<allocation>".
	experiment string
	// extraLogging is the split's extra logging (copied into each event), or nil.
	extraLogging map[string]string
	// extraErr is set when the extra logging could not be decoded (no event is logged).
	extraErr error
}

// answerCache holds decoded allot_eppo_assign answers by flags byte, flag key and the
// answer's bytes after the timestamp (the same for every call the same split serves),
// so that a call decodes nothing but its timestamp. Entries are never changed; the
// cache starts afresh when it grows past maxCachedAnswers (configurations change).
type answerCache struct {
	mu      sync.RWMutex
	entries [4]map[string]map[string]*fastAssignment
	size    int
}

const maxCachedAnswers = 4096

func (c *answerCache) get(flags byte, flagKey string, answer []byte) *fastAssignment {
	c.mu.RLock()
	a := c.entries[flags&3][flagKey][string(answer)]
	c.mu.RUnlock()
	return a
}

func (c *answerCache) put(flags byte, flagKey string, answer []byte, a *fastAssignment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size >= maxCachedAnswers {
		c.entries, c.size = [4]map[string]map[string]*fastAssignment{}, 0
	}
	byFlag := c.entries[flags&3]
	if byFlag == nil {
		byFlag = map[string]map[string]*fastAssignment{}
		c.entries[flags&3] = byFlag
	}
	answers := byFlag[flagKey]
	if answers == nil {
		answers = map[string]*fastAssignment{}
		byFlag[flagKey] = answers
	}
	answers[string(answer)] = a
	c.size++
}

// decodeAnswer decodes an answer's bytes after the timestamp.
func decodeAnswer(flags byte, flagKey string, rest []byte) *fastAssignment {
	field := func() string {
		n := binary.LittleEndian.Uint32(rest)
		text := string(rest[4 : 4+n])
		rest = rest[4+n:]
		return text
	}
	a := &fastAssignment{code: field()}
	if flags&1 != 0 {
		a.served = true
		a.value = field()
		a.variationKey = field()
		a.allocationKey = field()
		a.experiment = flagKey + "-" + a.allocationKey
	}
	if flags&2 != 0 {
		if extra := field(); extra != "" {
			a.extraLogging, a.extraErr = decodeExtraLogging(extra)
		}
	}
	return a
}

// decodeExtraLogging decodes a split's extra logging; a non-string value is kept as its
// JSON text.
func decodeExtraLogging(extra string) (map[string]string, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(extra), &fields); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(fields))
	for key, raw := range fields {
		text, err := jsonText(raw)
		if err != nil {
			return nil, err
		}
		out[key] = text
	}
	return out, nil
}

// jsonText is a JSON value as a string: a string's contents, any other value's JSON
// text.
func jsonText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return string(raw), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// assignFast assigns through the fast lane and hands the event, if any, to the logger.
// ok is false when the keys cannot be passed as C strings (the caller then uses the
// JSON path).
func (c *EppoClient) assignFast(id uint64, flagKey, subjectKey string, attrs Attributes, variationType int) (a *fastAssignment, ok bool, err error) {
	if hasNUL(flagKey) || hasNUL(subjectKey) {
		return nil, false, nil
	}
	buf := getBuffer()
	defer putBuffer(buf)
	in := getBuffer()
	defer putBuffer(in)
	*in = append(append((*in)[:0], flagKey...), 0)
	subjectAt := len(*in)
	*in = append(append(*in, subjectKey...), 0)
	attrsAt := -1
	if len(attrs) > 0 {
		attrsAt = len(*in)
		*in = append(appendObject(*in, attrs), 0)
	}
	answer, err := nativeEppoAssign(id, *in, subjectAt, attrsAt, variationType, c.logger != nil, buf)
	if err != nil {
		return nil, true, err
	}
	flags := answer[0]
	rest := answer[1:]
	var timestamp []byte
	if flags&2 != 0 {
		n := binary.LittleEndian.Uint32(rest)
		timestamp = rest[4 : 4+n]
		rest = rest[4+n:]
	}
	a = c.answers.get(flags, flagKey, rest)
	if a == nil {
		a = decodeAnswer(flags, flagKey, rest)
		c.answers.put(flags, flagKey, rest, a)
	}
	if flags&2 != 0 {
		c.logFastEvent(flagKey, subjectKey, attrs, a, string(timestamp))
	}
	return a, true, nil
}

// eventMetaData is every event's metaData (copied into each event).
var eventMetaData = map[string]string{"sdkName": "allot", "sdkVersion": libraryVersion, "coreVersion": libraryVersion}

// logFastEvent builds the assignment event of a fast-lane answer and logs it.
func (c *EppoClient) logFastEvent(flagKey, subjectKey string, attrs Attributes, a *fastAssignment, timestamp string) {
	if a.extraErr != nil {
		c.errorLog.Printf("allot: undecodable extraLogging: %v", a.extraErr)
		return
	}
	if attrs == nil {
		attrs = Attributes{}
	}
	event := AssignmentEvent{
		FeatureFlag:       flagKey,
		Allocation:        a.allocationKey,
		Experiment:        a.experiment,
		Variation:         a.variationKey,
		Subject:           subjectKey,
		SubjectAttributes: attrs,
		Timestamp:         timestamp,
		MetaData:          maps.Clone(eventMetaData),
	}
	if a.extraLogging != nil {
		event.ExtraLogging = maps.Clone(a.extraLogging)
	}
	c.deliver(event)
}

// bufferPool holds answer buffers; a buffer that had to grow is kept at its new size.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 1024); return &b }}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

// putBuffer returns a buffer to the pool at its full length (callers that wrote input
// into it shortened it; fastCall takes the length as the capacity).
func putBuffer(b *[]byte) {
	*b = (*b)[:cap(*b)]
	bufferPool.Put(b)
}
