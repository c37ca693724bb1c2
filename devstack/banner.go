package devstack

import (
	"fmt"
	"strings"
	"time"

	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/registry"
)

// banner tells the user what runs where and what to try: commands that
// work as printed, with the addresses the services really listen on.
func (s *Stack) banner() {
	c := s.cfg
	var b strings.Builder
	fmt.Fprintf(&b, "turnstile dev is running (Ctrl-C to stop)\n%s", dashboardLine(s.urls))
	fmt.Fprintf(&b, "  Kafka broker     %s   (data in %s)\n", s.broker.Addr(), c.DataDir)
	fmt.Fprintf(&b, "  Schema Registry  %s\n", s.registry.URL())
	fmt.Fprintf(&b, "  Processors       %d member(s), %d partitions, %v windows, input %s\n", c.Members, c.Pipeline.Partitions, c.Pipeline.Window, c.Pipeline.Topics.Input)
	fmt.Fprintf(&b, "  Producer         %s\n", s.producerLine())
	fmt.Fprintf(&b, "  Lake             %s\n", s.lakeLine())
	fmt.Fprintf(&b, "  HTTP             %s\n", httpLine(s.urls))
	b.WriteString("Try from another shell:\n")
	fmt.Fprintf(&b, "  curl %s/subjects\n", s.registry.URL())
	fmt.Fprintf(&b, "  %s schemas list%s\n", c.Command, s.clientFlags(false, true))
	fmt.Fprintf(&b, "  %s status%s\n", c.Command, s.clientFlags(true, false))
	if c.ExampleCSV != "" {
		fmt.Fprintf(&b, "  %s produce%s --source csv --file %s\n", c.Command, s.clientFlags(true, true), c.ExampleCSV)
		if c.NoProducer {
			b.WriteString("    (real MTA readings of 2024, replayed in event-time order: on a fresh --data-dir their windows\n" +
				"     close as they go; after later readings they are too late, see turnstile replay)\n")
		} else {
			b.WriteString("    (real MTA readings of 2024: beside the live synthetic stream they are older than retention and\n" +
				"     go to " + c.Pipeline.Topics.Late + "; to window them, run dev --produce=false on a fresh --data-dir)\n")
		}
	}
	b.WriteString(httpTry(s.urls))
	fmt.Fprint(c.Stdout, b.String())
}

// clientFlags are the connection flags a client command needs to reach
// this stack: none where it listens on the defaults the commands assume.
func (s *Stack) clientFlags(kafka, reg bool) string {
	var f string
	if kafka && s.broker.Addr() != defaultKafkaAddr {
		f += " --brokers " + s.broker.Addr()
	}
	if reg && s.registry.URL() != defaultRegistryURL() {
		f += " --registry-url " + s.registry.URL()
	}
	return f
}

// defaultKafkaAddr is where client commands look for Kafka unless told
// (the CLI's --brokers default).
const defaultKafkaAddr = "127.0.0.1:9092"

// defaultRegistryURL is where client commands look for the registry
// unless told: the embedded registry's default address.
func defaultRegistryURL() string {
	var d registry.Config
	d.Defaults()
	return "http://" + d.Addr
}

func (s *Stack) producerLine() string {
	if s.cfg.NoProducer {
		return "off (--produce=false): produce to the input topic yourself"
	}
	p := s.cfg.Producer
	if p.Source == producer.SourceCSV {
		return fmt.Sprintf("the MTA file %s, %gx event time", p.CSV.Path, p.Speed)
	}
	pace := "as fast as possible"
	switch {
	case p.Speed == 0 || p.Speed == 1:
		pace = "in real time"
	case p.Speed > 0:
		pace = fmt.Sprintf("%gx event time", p.Speed)
	}
	line := "synthetic turnstiles counting the real ridership of their booths (MTA weeks of 2023-12-30..2024-01-12,\n" +
		"                   by New York hour, weekday or weekend), " + pace
	if p.Speed > 1 {
		line += fmt.Sprintf(" (a day every %v)", (24 * time.Hour / time.Duration(p.Speed)).Round(time.Second))
	}
	line += fmt.Sprintf(", a reading per turnstile every %v", p.Synthetic.Interval)
	if p.Resume {
		line += ";\n                   it continues after the newest reading on the input topic"
	}
	return line
}

func (s *Stack) lakeLine() string {
	return fmt.Sprintf("%s (CSV.gz and Parquet, flushed every %v)", s.cfg.LakeDir, s.cfg.Lake.FlushInterval)
}

// dashboardLine is the first thing to open: the first member's dashboard.
func dashboardLine(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	return fmt.Sprintf("  Dashboard        %s/   (open it in a browser: live station windows and pipeline health)\n", urls[0])
}

func httpLine(urls []string) string {
	if len(urls) == 0 {
		return "off (--http-addr \"\")"
	}
	return strings.Join(urls, ", ") + " (/ dashboard, /events, /metrics, /readyz, /monitor/, window queries)"
}

func httpTry(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	return fmt.Sprintf("  curl -N '%s/events?kind=station'   (the windows as they are published, Server-Sent Events)\n  curl %s/metrics\n  curl -L %s/stations/<STATION>/windows\n", urls[0], urls[0], urls[0])
}
