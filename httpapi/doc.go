// Package httpapi is the HTTP server of a turnstile member (turnstile
// process, turnstile dev): Prometheus metrics, health and readiness,
// goka's web monitor, and interactive queries of the window tables.
//
// Routes (Go 1.22 ServeMux patterns):
//
//	GET /metrics                             Prometheus text format
//	GET /healthz                             200 while the process serves HTTP
//	GET /readyz                              200 when every stage's goka processor runs (tables recovered), else 503; JSON
//	    /monitor/                            goka's web monitor (processors running now)
//	GET /devices/{ca}/{unit}/{scp}/windows   a device's open and retained windows (JSON)
//	GET /stations/{station}/windows          a station's open and retained windows (JSON; ?line= filters)
//	GET /                                    the live dashboard when Config.Dashboard is set (package dashboard,
//	                                         with GET /events and GET /api/health), else a text index
//
// # Who answers a query
//
// A device key lives in one partition of the device table; only the member
// that owns that partition (goka's active assignment, never a hot-standby
// replica) answers, from its local Pebble store. Any other member answers
// 307 Temporary Redirect with Location set to the owner's URL and a JSON
// body naming the owner and partition (clients that follow redirects just
// get the answer). Members find each other through the consumer group:
// each member puts its advertised URL in its group member metadata
// (processors.Pipeline.AdvertiseHTTP), which DescribeGroups returns with
// the member's assignment. While no member owns the partition (a
// rebalance) or the owner is still recovering it, the answer is 503 with
// Retry-After.
//
// A station's windows are spread over every partition of the station table
// (one key per station window, STATION|LINENAME|START), so a station query
// is gathered: the member asked reads the station's key prefix in the
// partitions it owns and asks each other owner for its partitions
// (?partitions=0,2, answered from local partitions only, 421 if not owned
// there). The answer lists which member read which partitions; if a
// partition could not be read it is listed as missing and the answer is
// 503 with the partial windows.
//
// # Concurrency
//
// A Server's handlers may run concurrently; Serve runs until its context
// ends and then shuts down gracefully.
package httpapi
