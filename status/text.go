package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report as tables: groups with their lag, topics
// with their offsets, then the counts.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "GROUP\tSTATE\tMEMBERS\tLAG\tTOPICS (lag)\n")
	for _, g := range r.Groups {
		var parts []string
		for _, t := range g.Topics {
			parts = append(parts, fmt.Sprintf("%s %d", t.Topic, t.Lag))
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
