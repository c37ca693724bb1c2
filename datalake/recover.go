package datalake

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// resume is where a newly assigned topic-partition continues.
type resume struct {
	next      int64 // first offset not in the lake; -1: nothing yet, start at the beginning
	removed   []string
	published []string // staged files of committed batches, published now
}

// recoverPartitions prepares newly assigned partitions of one topic: it
// reads each checkpoint, then, for the partition's files:
//
//   - staged files of committed batches (below the checkpoint: a crash
//     between checkpoint and publish) are published, unless already
//     published (publishStaged);
//   - staged files at or above the checkpoint, or of a partition without
//     one (a crash before the checkpoint), and temporary files are
//     deleted, so that whatever batch boundaries the re-read has, no record
//     ends up in two files;
//   - published part and rejected files at or above the checkpoint are
//     deleted too: the writer publishes nothing uncommitted, but a lake
//     written before staging existed publishes before its checkpoint.
//
// A file straddling the checkpoint can only come from something else
// writing into the lake (a second writer, a hand edit); that is an error,
// not something to guess about.
func recoverPartitions(ctx context.Context, s *Store, ds Dataset, topic string, partitions []int32, log *slog.Logger) (map[int32]resume, error) {
	out := make(map[int32]resume, len(partitions))
	for _, p := range partitions {
		cp, err := readCheckpoint(ctx, s, ds, topic, p)
		if err != nil {
			return nil, err
		}
		r := resume{next: -1}
		if cp != nil {
			r.next = cp.Next
		}
		out[p] = r
	}
	objs, err := s.list(ctx, string(ds)+"/")
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		_, dir, base := splitKey(o.Key)
		if dir == checkpointDir {
			// A checkpoint write that crashed before its rename.
			if name, temp := tempOf(base); temp {
				if _, ours := out[checkpointPartition(name, topic)]; ours {
					if err := s.remove(ctx, o.Key); err != nil {
						return nil, err
					}
				}
			}
			continue
		}
		staged := dir == stagingDir || strings.HasPrefix(dir, stagingDir+"/")
		fn := parseName(base)
		if fn.kind != kindPart || fn.span.Topic != topic {
			continue
		}
		r, ok := out[fn.span.Partition]
		if !ok {
			continue
		}
		switch {
		case fn.temp, r.next < 0, fn.span.First >= r.next:
			if err := s.remove(ctx, o.Key); err != nil {
				return nil, err
			}
			r.removed = append(r.removed, o.Key)
			log.Info("removed a file of an uncommitted batch", "file", o.Key, "staged", staged, "topic", topic, "partition", fn.span.Partition, "checkpoint", r.next)
		case fn.span.Last >= r.next:
			return nil, fmt.Errorf("datalake: %s covers offsets %d-%d but the checkpoint of %s/%d is %d: another writer is using this lake",
				o.Key, fn.span.First, fn.span.Last, topic, fn.span.Partition, r.next)
		case staged:
			final, _ := finalKey(o.Key)
			copied, err := publishStaged(ctx, s, final)
			if err != nil {
				return nil, err
			}
			r.published = append(r.published, final)
			log.Info("published a staged file of a committed batch", "file", final, "copied", copied, "topic", topic, "partition", fn.span.Partition, "checkpoint", r.next)
		}
		out[fn.span.Partition] = r
	}
	return out, nil
}

// checkpointPartition returns the partition of topic whose checkpoint is
// named name, or -1.
func checkpointPartition(name, topic string) int32 {
	rest, ok := strings.CutPrefix(name, topic+"-")
	if !ok {
		return -1
	}
	p, err := strconv.ParseInt(strings.TrimSuffix(rest, extJSON), 10, 32)
	if err != nil || !strings.HasSuffix(rest, extJSON) {
		return -1
	}
	return int32(p)
}
