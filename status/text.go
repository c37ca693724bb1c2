package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints the report as tables: groups with their lag, topics
// with their offsets, the watermarks when collected, then the counts.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "GROUP\tSTATE\tMEMBERS\tLAG\tTOPICS (lag)\n")
	for _, g := range r.Groups {
		var parts []string
		for _, t := range g.Topics {
			part := fmt.Sprintf("%s %d", t.Topic, t.Lag)
			if t.Unknown > 0 {
				part += fmt.Sprintf(" (%d partitions unknown)", t.Unknown)
			}
			parts = append(parts, part)
		}
		state := g.State
		if g.Absent {
			state += " (never ran)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", g.Group, state, g.Members, g.Lag, strings.Join(parts, ", "))
	}
	fmt.Fprintf(tw, "\nTOPIC\tPARTITIONS\tRECORDS\tEND OFFSET\n")
	for _, t := range r.Topics {
		if t.Missing {
			fmt.Fprintf(tw, "%s\t-\t-\t- (missing)\n", t.Topic)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", t.Topic, t.Partitions, t.Records, t.End)
	}
	if r.Watermarks != nil {
		r.Watermarks.writeText(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	caught := "caught up"
	if !r.CaughtUp() {
		caught = fmt.Sprintf("lag %d", r.Lag())
	}
	_, err := fmt.Fprintf(w, "\n%s · device windows %d · station windows %d · dead-lettered %d · too late %d\n",
		caught, r.DeviceWindows, r.StationWindows, r.DeadLettered, r.Late)
	return err
}

// writeText prints a windowed group's partitions a line each, by
// FormatWatermark, then the ingest stage's input partitions; the least
// watermark of each is marked. Consecutive partitions unknown for one
// reason share a line.
func (w *Watermarks) writeText(tw io.Writer) {
	fmt.Fprintf(tw, "\nWATERMARK\tPARTITIONS (behind the newest event time, what holds it back)\t\n")
	for _, g := range w.Groups {
		var lines []string
		for i := 0; i < len(g.Partitions); i++ {
			p := g.Partitions[i]
			switch {
			case p.Unknown != "":
				j := i
				for j+1 < len(g.Partitions) && g.Partitions[j+1].Unknown == p.Unknown {
					j++
				}
				lines = append(lines, unknownLine(p.Partition, g.Partitions[j].Partition, p.Unknown)+"\t")
				i = j
			case p.Least:
				lines = append(lines, FormatWatermark(p.View())+"\t<- least")
			default:
				lines = append(lines, FormatWatermark(p.View())+"\t")
			}
		}
		writeLines(tw, g.Group, lines)
	}
	if s := w.Sources; s != nil {
		fmt.Fprintf(tw, "\nSOURCE WATERMARK\tINPUT PARTITIONS (%s; idle ones hold nothing back)\t\n", s.Topic)
		var lines []string
		for i := 0; i < len(s.Partitions); i++ {
			p := s.Partitions[i]
			if p.Unknown != "" {
				j := i
				for j+1 < len(s.Partitions) && s.Partitions[j+1].Unknown == p.Unknown {
					j++
				}
				lines = append(lines, unknownLine(p.Partition, s.Partitions[j].Partition, p.Unknown)+"\t")
				i = j
				continue
			}
			line := fmt.Sprintf("p%d none yet", p.Partition)
			if p.Watermark != nil {
				line = fmt.Sprintf("p%d %s", p.Partition, p.Watermark.Format(time.RFC3339))
			}
			if p.Idle {
				line += " (idle)"
			}
			if p.Least {
				line += "\t<- least active"
			} else {
				line += "\t"
			}
			lines = append(lines, line)
		}
		writeLines(tw, s.Group, lines)
	}
}

// writeLines prints lines under one name, the name on the first only.
func writeLines(tw io.Writer, name string, lines []string) {
	if len(lines) == 0 {
		lines = []string{"- (no partitions)\t"}
	}
	for i, l := range lines {
		if i > 0 {
			name = ""
		}
		fmt.Fprintf(tw, "%s\t%s\n", name, l)
	}
}

// unknownLine says partitions first to last are unknown, and why.
func unknownLine(first, last int32, why string) string {
	if first == last {
		return fmt.Sprintf("p%d unknown (%s)", first, why)
	}
	return fmt.Sprintf("p%d-p%d unknown (%s)", first, last, why)
}
