package allot_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sort"
	"time"

	allot "github.com/allot/allot/bindings/go"
)

// Evaluate Amplitude flags locally from a bundled flag configuration (the example
// flags of the repository); no network is used.
func ExampleNewLocalClient() {
	client, err := allot.NewLocalClient("server-deployment-key", allot.LocalConfig{
		FlagsPath: "../../examples/flags/flags.json",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}

	user := allot.User{
		UserID:         "ada@example.com",
		DeviceID:       "d-1001",
		Country:        "United Kingdom",
		UserProperties: map[string]any{"plan": "enterprise"},
	}
	variants, err := client.Evaluate(user, "new-checkout")
	if err != nil {
		log.Fatal(err)
	}
	v := variants["new-checkout"]
	fmt.Println(v.Key, v.Value, v.Metadata["segmentName"])
	// Output: on on Enterprise customers
}

// Fetch from Amplitude's servers, evaluate locally, keep the flags up to date in the
// background; the context's deadline bounds the first fetch.
func ExampleLocalClient_Start() {
	client, err := allot.NewLocalClient("server-deployment-key", allot.LocalConfig{
		ServerZone:                allot.ServerZoneEU,
		FlagConfigPollingInterval: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Start(ctx); errors.Is(err, allot.ErrTimeout) {
		log.Print("flags not loaded yet; serving no variants until they arrive")
	} else if err != nil {
		log.Print(err)
	}
}

// Dependent flags bring their parents: asking for one flag returns the holdout group
// it depends on too.
func ExampleLocalClient_Evaluate() {
	client, err := allot.NewLocalClient("key", allot.LocalConfig{FlagsPath: "../../examples/flags/flags.json"})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if err := client.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	variants, err := client.Evaluate(allot.User{UserID: "user-2002", DeviceID: "d-2002"}, "onboarding-v2")
	if err != nil {
		log.Fatal(err)
	}
	keys := make([]string, 0, len(variants))
	for k := range variants {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%s: %s default=%v\n", k, variants[k].Key, variants[k].IsDefault())
	}
	// Output:
	// holdout-2026: on default=false
	// onboarding-v2: guided-tour default=false
}

// Errors carry a stable code; compare with errors.Is.
func ExampleError() {
	_, err := allot.NewLocalClient("key", allot.LocalConfig{FlagsPath: "/no/such/flags.json"})
	var e *allot.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, errors.Is(err, allot.ErrInvalidConfig))
	}
	// Output: invalid_config true
}

// printLogger writes each Eppo assignment event.
type printLogger struct{}

func (printLogger) LogAssignment(e allot.AssignmentEvent) {
	fmt.Println("event:", e.Experiment, e.Subject, e.Variation)
}

// Eppo typed assignments with an assignment logger.
func ExampleNewEppoClient() {
	ufc := []byte(`{
	  "createdAt": "2024-04-17T19:40:53.716Z", "environment": {"name": "Test"},
	  "flags": {"button-color": {
	    "key": "button-color", "enabled": true, "variationType": "STRING", "totalShards": 10000,
	    "variations": {"blue": {"key": "blue", "value": "blue"}, "green": {"key": "green", "value": "green"}},
	    "allocations": [{
	      "key": "france", "doLog": true,
	      "rules": [{"conditions": [{"attribute": "country", "operator": "ONE_OF", "value": ["FR"]}]}],
	      "splits": [{"variationKey": "green", "shards": []}]}]}}}`)
	client, err := allot.NewEppoClient(allot.EppoConfig{
		APIKey:               "eppo-sdk-key",
		AssignmentLogger:     printLogger{},
		InitialConfiguration: ufc,
		DisablePolling:       true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	color, err := client.GetStringAssignment("button-color", "subject-1", allot.Attributes{"country": "FR"}, "blue")
	fmt.Println(color, err)
	details, _ := client.GetStringAssignmentDetails("button-color", "subject-2", allot.Attributes{"country": "US"}, "blue")
	fmt.Println(details.Variation, details.Code)
	// Output:
	// event: button-color-france subject-1 green
	// green <nil>
	// blue DEFAULT_ALLOCATION_NULL
}

// The Amplitude browser cookie.
func ExampleParseAmplitudeCookie() {
	value, _ := allot.GenerateAmplitudeCookie("someDeviceId", true)
	user, _ := allot.ParseAmplitudeCookie(value, true)
	name, _ := allot.AmplitudeCookieName("1234567890abcdef", true)
	fmt.Println(name, user.DeviceID)
	// Output: AMP_1234567890 someDeviceId
}
