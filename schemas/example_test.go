package schemas_test

import (
	"fmt"

	"github.com/turnstile-streams/turnstile/schemas"
)

func ExampleTopics_Registrations() {
	for _, r := range schemas.DefaultTopics().Registrations() {
		fmt.Println(r.Subject, r.Schema.Name, r.Schema.Version)
	}
	// Output:
	// mta-turnstile-value nyc.mta.turnstile.TurnstileReading 1
	// mta-turnstile-value nyc.mta.turnstile.TurnstileReading 2
	// mta-turnstile-late-value nyc.mta.turnstile.TurnstileReading 1
	// mta-turnstile-late-value nyc.mta.turnstile.TurnstileReading 2
	// mta-turnstile-windows-value nyc.mta.turnstile.TurnstileWindow 1
	// mta-station-windows-value nyc.mta.turnstile.StationWindow 1
}

func ExampleReading_ParseEventTime() {
	r := schemas.Reading{CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", LineName: "NQR456W",
		Date: "12-30-23", Time: "03:00:00", Timestamp: "2023-12-30 03:00:00"}
	t, err := r.ParseEventTime()
	fmt.Println(t, err)
	fmt.Println(r.DeviceKey(), r.StationKey())
	// Output:
	// 2023-12-30 03:00:00 +0000 UTC <nil>
	// A002|R051|02-00-00 59 ST|NQR456W
}
