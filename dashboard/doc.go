// Package dashboard is a member's live dashboard: one HTML page (GET /)
// and the Server-Sent Events stream it reads (GET /events), plus a small
// JSON health endpoint (GET /api/health). Everything is embedded (go:embed:
// HTML, vanilla JS, CSS, an SVG icon); the page needs no network beyond
// the member itself and runs under Content-Security-Policy default-src
// 'self'.
//
// # What the events are
//
// The Hub tails the two sink topics (the station and device window topics,
// whatever the config names them) with its own franz-go client, consuming
// every partition directly (no consumer group, nothing committed), and
// decodes each record with the project's codecs (Confluent wire format,
// registry lookups). Each record becomes one event, so a client sees
// exactly what downstream consumers of the sink topics see, corrections
// (REVISION > 1) and replay generations included. The hub starts on the
// first request for events, from the last Backlog records of each topic,
// and keeps those in memory: a bounded ring per partition.
//
// # Event ids and resuming
//
// An event's id names the event and then the client's position vector:
//
//	mta-station-windows:2:41;mta-station-windows=12,42,7;mta-turnstile-windows=88,90,85
//
// The first segment is the event's topic:partition:offset. Each following
// topic=o0,o1,... segment gives, per partition of that topic, the next
// offset the client has not received (every record below it was either
// delivered or filtered out). A single topic:partition:offset could not
// say where the client stands in the other partitions; the vector does, so
// a client that reconnects with Last-Event-ID (browsers do that on their
// own) resumes exactly: it receives every event it missed, in every
// partition, once. Missed events still in the ring are replayed from it;
// older ones are fetched from Kafka again, from the vector's offsets,
// before the client rejoins the live stream. Records Kafka no longer holds
// (deleted by retention) cannot be resumed and are skipped.
//
// # Concurrency contract
//
// One goroutine (Run) reads the sink topics; it never blocks on a client.
// Under the hub's mutex it appends each event to its partition's ring and
// offers it to every subscribed client whose filter matches, with a
// non-blocking send into the client's bounded buffer (Config.ClientBuffer).
// A client whose buffer is full is dropped: its stream ends (counted in
// turnstile_dashboard_dropped_clients_total) and the browser reconnects
// with its Last-Event-ID, resuming where it was. Each client's handler
// goroutine writes its own stream, with a write deadline per write, so a
// stalled connection costs only its own goroutine. At most
// Config.MaxClients streams are open at once; beyond that /events answers
// 503 with Retry-After. A comment line is sent every Config.Heartbeat
// (15s) so proxies and clients can tell an idle stream from a dead one.
//
// # Time zone and warnings
//
// The page shows every time (windows, chart axis, watermarks) as the wall
// clock in Config.TimeZone, an IANA zone (default America/New_York, the
// MTA's), and says so in its header; New checks the name against Go's zone
// database (embedded, so a machine without one works too) and writes it
// into the page. The chart spans the selected station's last 72 windows,
// whatever their length, and leaves a gap where a window has no data.
// HealthReport.Warnings, when not empty, is a banner above the page.
//
// The dashboard is read-only: it reads the sink topics and the member's
// own metrics, and writes nothing anywhere. It is served by the member's
// HTTP server (package httpapi), which listens on loopback by default.
// Every value on the page is data: the script writes it with textContent
// and SVG text nodes, never as markup.
package dashboard
