// Package grouplag is the one definition of consumer-group lag in turnstile,
// used by the ingest stage's ticker (is an input partition caught up, so may
// it be marked idle?) and by package status (turnstile status, --wait, the
// live view, /metrics). It imports nothing of the project, so any package may
// use it.
//
// Lag is kadm's (CalculateGroupLagWithStartOffsets): end offset minus
// committed offset per partition, with these rules on top, which both
// callers rely on:
//
//   - a partition whose offsets cannot be listed or whose commit cannot be
//     fetched has an error and no lag: unknown is never "caught up";
//   - a partition with no commit (none, or -1) counts every record it holds:
//     end minus log start;
//   - a commit below the log start counts from the start (kadm would count
//     the records already deleted);
//   - every partition of the asked topics that the end offsets list is
//     reported, whether or not the group is assigned or committed to it.
//
// Everything here is a pure function of its inputs except Fetch, which asks
// the cluster; both are safe for concurrent use.
package grouplag
