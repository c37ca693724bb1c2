package processors

// The outcome label values of turnstile_reading_outcomes_total, which are
// also the keys of Snapshot.Outcomes: what became of each reading the
// device stage received, exactly one each.
const (
	OutcomeApplied   = "applied"   // applied to its device's windows
	OutcomeDuplicate = "duplicate" // its ID was applied to the device already
	OutcomeLate      = "late"      // older than the watermark minus retention: on the late topic
)
