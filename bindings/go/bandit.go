package allot

import (
	"encoding/json"
	"runtime"
)

// ContextAttributes are the attributes a contextual bandit scores, split by meaning:
// numeric attributes are quantities (scored by a coefficient), categorical attributes
// are labels (scored per value). Nil maps mean none.
type ContextAttributes struct {
	NumericAttributes     map[string]float64
	CategoricalAttributes map[string]string
}

// BanditActions maps each action a bandit may choose to the action's attributes.
type BanditActions map[string]ContextAttributes

// BanditLogger is implemented by an AssignmentLogger that also records bandit actions:
// LogBanditAction receives one event per action chosen, after the assignment events,
// on the goroutine that asked; a panic in it is recovered and logged.
type BanditLogger interface {
	LogBanditAction(event BanditEvent)
}

// BanditEvent is what Eppo expects to be written to the warehouse for a bandit action.
type BanditEvent struct {
	FlagKey                      string             `json:"flagKey"`
	BanditKey                    string             `json:"banditKey"`
	Subject                      string             `json:"subject"`
	Action                       string             `json:"action"`
	ActionProbability            float64            `json:"actionProbability"`
	OptimalityGap                float64            `json:"optimalityGap"`
	ModelVersion                 string             `json:"modelVersion"`
	Timestamp                    string             `json:"timestamp"` // RFC 3339
	SubjectNumericAttributes     map[string]float64 `json:"subjectNumericAttributes"`
	SubjectCategoricalAttributes map[string]string  `json:"subjectCategoricalAttributes"`
	ActionNumericAttributes      map[string]float64 `json:"actionNumericAttributes"`
	ActionCategoricalAttributes  map[string]string  `json:"actionCategoricalAttributes"`
	MetaData                     map[string]string  `json:"metaData"` // sdkName, sdkVersion, coreVersion
}

// BanditResult is the outcome of GetBanditAction.
type BanditResult struct {
	// Variation is the flag's variation, or the default.
	Variation string
	// Action is the action chosen; empty when the variation is not a bandit, the
	// bandit has no model, or no actions were given.
	Action string
	// BanditKey is the bandit the variation handed over to ("" when none).
	BanditKey string
	// ActionProbability is the chance the action had of being chosen (0 without one).
	ActionProbability float64
	// OptimalityGap is the best action's score minus the chosen one's (0 without one).
	OptimalityGap float64
	// Code is the flag evaluation code, such as CodeMatch.
	Code string
	// Details explains the evaluation (GetBanditActionDetails only).
	Details EvaluationDetails
}

// contextDoc is the split form of ContextAttributes in a request.
type contextDoc struct {
	Numeric     map[string]float64 `json:"numeric_attributes"`
	Categorical map[string]string  `json:"categorical_attributes"`
}

func toContextDoc(a ContextAttributes) contextDoc {
	d := contextDoc{Numeric: a.NumericAttributes, Categorical: a.CategoricalAttributes}
	if d.Numeric == nil {
		d.Numeric = map[string]float64{}
	}
	if d.Categorical == nil {
		d.Categorical = map[string]string{}
	}
	return d
}

type banditRequest struct {
	FlagKey    string                `json:"flag_key"`
	SubjectKey string                `json:"subject_key"`
	Subject    contextDoc            `json:"subject_attributes"`
	Actions    map[string]contextDoc `json:"actions"`
	Default    string                `json:"default"`
	Details    bool                  `json:"details,omitempty"`
}

type banditResultDoc struct {
	Variation         string            `json:"variation"`
	Action            *string           `json:"action"`
	Code              string            `json:"code"`
	BanditKey         *string           `json:"bandit_key"`
	ActionProbability *float64          `json:"action_probability"`
	OptimalityGap     *float64          `json:"optimality_gap"`
	Events            []json.RawMessage `json:"events"`
	BanditEvents      []BanditEvent     `json:"bandit_events"`
	Details           json.RawMessage   `json:"details"`
}

// GetBanditAction assigns the STRING flag flagKey to the subject and, when the
// variation is a bandit, lets the bandit choose one of actions from the subject's and
// the actions' attributes. The assignment event goes to the AssignmentLogger, the
// bandit event to its LogBanditAction when it implements BanditLogger. Without a
// match the variation is def. An error is returned only when the client cannot
// evaluate at all (closed, or a request the library rejects); the variation is then def.
func (c *EppoClient) GetBanditAction(flagKey, subjectKey string, subject ContextAttributes, actions BanditActions, def string) (BanditResult, error) {
	return c.bandit(flagKey, subjectKey, subject, actions, def, false)
}

// GetBanditActionDetails is GetBanditAction with the evaluation details.
func (c *EppoClient) GetBanditActionDetails(flagKey, subjectKey string, subject ContextAttributes, actions BanditActions, def string) (BanditResult, error) {
	return c.bandit(flagKey, subjectKey, subject, actions, def, true)
}

func (c *EppoClient) bandit(flagKey, subjectKey string, subject ContextAttributes, actions BanditActions, def string, details bool) (BanditResult, error) {
	defer runtime.KeepAlive(c)
	result := BanditResult{Variation: def}
	id, err := c.h.get()
	if err != nil {
		return result, err
	}
	request := banditRequest{
		FlagKey:    flagKey,
		SubjectKey: subjectKey,
		Subject:    toContextDoc(subject),
		Actions:    make(map[string]contextDoc, len(actions)),
		Default:    def,
		Details:    details,
	}
	for key, attributes := range actions {
		request.Actions[key] = toContextDoc(attributes)
	}
	body, err := json.Marshal(request)
	if err != nil { // NaN or infinite attributes
		return result, &Error{Code: "invalid_argument", Message: "bandit attributes: " + err.Error()}
	}
	doc, err := nativeEvaluate(id, body)
	if err != nil {
		return result, err
	}
	var r banditResultDoc
	if err := json.Unmarshal(doc, &r); err != nil {
		return result, &Error{Code: "internal", Message: "undecodable bandit result: " + err.Error()}
	}
	result = BanditResult{Variation: r.Variation, Code: r.Code}
	if r.Action != nil {
		result.Action = *r.Action
	}
	if r.BanditKey != nil {
		result.BanditKey = *r.BanditKey
	}
	if r.ActionProbability != nil {
		result.ActionProbability = *r.ActionProbability
	}
	if r.OptimalityGap != nil {
		result.OptimalityGap = *r.OptimalityGap
	}
	if len(r.Details) > 0 {
		if err := json.Unmarshal(r.Details, &result.Details); err != nil {
			return result, &Error{Code: "internal", Message: "undecodable details: " + err.Error()}
		}
	}
	if c.logger != nil {
		attrs := Attributes{}
		for k, v := range subject.NumericAttributes {
			attrs[k] = v
		}
		for k, v := range subject.CategoricalAttributes {
			attrs[k] = v
		}
		for _, raw := range r.Events {
			c.logEvent(raw, attrs)
		}
		if logger, ok := c.logger.(BanditLogger); ok {
			for _, event := range r.BanditEvents {
				c.logBanditEvent(logger, event)
			}
		}
	}
	return result, nil
}

// logBanditEvent calls the logger, recovering a panic.
func (c *EppoClient) logBanditEvent(logger BanditLogger, event BanditEvent) {
	defer func() {
		if p := recover(); p != nil {
			c.errorLog.Printf("allot: BanditLogger.LogBanditAction panicked (recovered): %v", p)
		}
	}()
	logger.LogBanditAction(event)
}
