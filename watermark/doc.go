// Package watermark is event-time progress through the stream graph, as
// pure logic with no Kafka or goka dependency: what a source partition has
// reached (Source), and what a receiver that re-keys several sources into
// one partition may conclude from their marks (Merge).
//
// The model is Flink's: every upstream partition sends, in band and after
// the records it covers, a mark saying how far its event time has
// progressed; a receiver's watermark is the least mark of its sources, and
// a source that is caught up and silent marks itself idle and leaves the
// minimum until it has data again. A receiver has no watermark until every
// one of its sources has been heard from, so a source that starts late
// cannot find its windows closed by a faster one. A Gate closes the race
// idleness leaves open: an idle source whose input resumes holds the
// minimum as soon as a tick reports its lag, and while any source is idle
// the watermark moves only to a merge a later tick confirmed. An Align
// pauses a source that feeds its own receiver while it runs too far ahead
// of that receiver's watermark (watermark alignment).
//
// Concurrency: a Source, a Merge, a Gate or an Align belongs to one goroutine (the
// partition that owns it); nothing here locks.
package watermark
