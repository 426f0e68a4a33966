package allot

// The fast lane: allot_evaluate_compact / allot_result_json for Amplitude and
// allot_eppo_assign for Eppo. Answers are written into Go buffers (C never keeps them);
// an Amplitude result is decoded once per configuration snapshot and deep-copied for
// each caller, so callers may modify what they get.

import (
	"encoding/binary"
	"sync"
)

// fastResult is one decoded result of a snapshot: the flag and its variant.
type fastResult struct {
	flag    string
	variant Variant
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

// evaluateFast evaluates through the fast lane. ok is false when the configuration kept
// changing under it (the caller then uses the JSON path).
func (c *LocalClient) evaluateFast(id uint64, user *User, flagKeys []string) (variants map[string]Variant, ok bool, err error) {
	in := append(appendUser(make([]byte, 0, 256), user), 0)
	var keys []byte
	if len(flagKeys) > 0 {
		keys = append(appendStrings(make([]byte, 0, 64), flagKeys), 0)
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
			variants[result.flag] = result.variant.clone()
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
	s := scanner{b: doc}
	err = s.object(func(key string) error {
		var err error
		switch key {
		case "flag_key":
			result.flag, err = s.str(true)
		case "variant":
			result.variant, err = s.variant()
		default:
			_, err = s.skip()
		}
		return err
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return result, false, &Error{Code: "internal", Message: "undecodable result: " + err.Error()}
	}
	return result, true, nil
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
}

// assignFast assigns through the fast lane and hands the event, if any, to the logger.
// ok is false when the keys cannot be passed as C strings (the caller then uses the
// JSON path).
func (c *EppoClient) assignFast(id uint64, flagKey, subjectKey string, attrs Attributes, variationType int) (a fastAssignment, ok bool, err error) {
	if hasNUL(flagKey) || hasNUL(subjectKey) {
		return a, false, nil
	}
	in := make([]byte, 0, len(flagKey)+len(subjectKey)+128)
	in = append(append(in, flagKey...), 0)
	subjectAt := len(in)
	in = append(append(in, subjectKey...), 0)
	attrsAt := -1
	if len(attrs) > 0 {
		attrsAt = len(in)
		in = append(appendObject(in, attrs), 0)
	}
	buf := getBuffer()
	defer putBuffer(buf)
	answer, err := nativeEppoAssign(id, in, subjectAt, attrsAt, variationType, c.logger != nil, buf)
	if err != nil {
		return a, true, err
	}
	flags := answer[0]
	rest := answer[1:]
	field := func() string {
		n := binary.LittleEndian.Uint32(rest)
		text := string(rest[4 : 4+n])
		rest = rest[4+n:]
		return text
	}
	a.code = field()
	if flags&1 != 0 {
		a.served = true
		a.value = field()
		a.variationKey = field()
		a.allocationKey = field()
	}
	if flags&2 != 0 {
		timestamp := field()
		extra := field()
		c.logFastEvent(flagKey, subjectKey, attrs, &a, timestamp, extra)
	}
	return a, true, nil
}

// logFastEvent builds the assignment event of a fast-lane answer and logs it.
func (c *EppoClient) logFastEvent(flagKey, subjectKey string, attrs Attributes, a *fastAssignment, timestamp, extra string) {
	if attrs == nil {
		attrs = Attributes{}
	}
	event := AssignmentEvent{
		FeatureFlag:       flagKey,
		Allocation:        a.allocationKey,
		Experiment:        flagKey + "-" + a.allocationKey,
		Variation:         a.variationKey,
		Subject:           subjectKey,
		SubjectAttributes: attrs,
		Timestamp:         timestamp,
		MetaData:          map[string]string{"sdkName": "allot", "sdkVersion": libraryVersion, "coreVersion": libraryVersion},
	}
	if extra != "" {
		s := scanner{b: []byte(extra)}
		event.ExtraLogging = map[string]string{}
		err := s.object(func(key string) error {
			if s.peek() != '"' { // a non-string value is kept as its JSON text
				raw, err := s.skip()
				event.ExtraLogging[key] = string(raw)
				return err
			}
			v, err := s.str(false)
			event.ExtraLogging[key] = v
			return err
		})
		if err != nil {
			c.errorLog.Printf("allot: undecodable extraLogging: %v", err)
			return
		}
	}
	c.deliver(event)
}

// bufferPool holds answer buffers; a buffer that had to grow is kept at its new size.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 1024); return &b }}

func getBuffer() *[]byte  { return bufferPool.Get().(*[]byte) }
func putBuffer(b *[]byte) { bufferPool.Put(b) }
