// Package allot evaluates feature flags and experiments — Amplitude Experiment flag
// configurations and Eppo's Universal Flag Configuration — in microseconds, inside
// your process, by calling the allot C library through cgo.
//
// Every rule of evaluation lives in the library; this package only encodes requests,
// decodes results and maps errors, so Go gets the same answers as every other binding.
//
// # Amplitude
//
// A LocalClient evaluates locally from a flag configuration it loads once (LocalConfig
// Flags or FlagsPath) or keeps in sync with Amplitude's servers:
//
//	client, err := allot.NewLocalClient(deploymentKey, allot.LocalConfig{})
//	if err != nil { ... }
//	defer client.Close()
//	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//	defer cancel()
//	if err := client.Start(ctx); err != nil { ... }
//	variants, err := client.Evaluate(allot.User{UserID: "u-1"}, "new-checkout")
//
// A RemoteClient asks Amplitude's servers instead (Fetch).
//
// # Eppo
//
//	client, err := allot.NewEppoClient(allot.EppoConfig{APIKey: sdkKey, AssignmentLogger: logger})
//	color, err := client.GetStringAssignment("button-color", "subject-1", allot.Attributes{"country": "FR"}, "blue")
//
// # Errors
//
// Errors from the library are *Error values with a stable Code; compare them with
// errors.Is against the sentinels (ErrTimeout, ErrInvalidConfig, ...).
//
// # Concurrency
//
// Every client is safe for concurrent use by any number of goroutines; evaluations
// take no lock shared with other evaluations. Close is idempotent; a client that is
// garbage-collected without Close is closed by a finalizer that logs the omission.
//
// # Linking
//
// The package links liballot through pkg-config (package "allot"); build with
// -tags allot_static to link liballot.a statically (package "allot-static").
package allot
