package devstack

import (
	"fmt"
	"strings"
)

// banner tells the user what runs where and what to try.
func (s *Stack) banner() {
	c := s.cfg
	fmt.Fprintf(c.Stdout, `turnstile dev is running (Ctrl-C to stop)
%s  Kafka broker     %s   (data in %s)
  Schema Registry  %s
  Processors       %d member(s), %d partitions, %v windows, input %s
  Producer         %s
  Lake             %s
  HTTP             %s
Try from another shell:
  curl %s/subjects
  bin/turnstile schemas list
  bin/turnstile status
  bin/turnstile produce --source csv --file ../shared/data/mta/240106.csv.gz --limit 10000
    (a week of 2024: beside the live synthetic stream it is older than retention and goes to
     mta-turnstile-late; to window it, run dev --produce=false on a fresh --data-dir)
%s`, dashboardLine(s.urls), s.broker.Addr(), c.DataDir, s.registry.URL(), c.Members, c.Pipeline.Partitions, c.Pipeline.Window,
		c.Pipeline.Topics.Input, s.producerLine(), s.lakeLine(), httpLine(s.urls), s.registry.URL(), httpTry(s.urls))
}

func (s *Stack) producerLine() string {
	if s.cfg.NoProducer {
		return "off (--produce=false): produce to the input topic yourself"
	}
	return fmt.Sprintf("synthetic, %gx event time, a reading per turnstile every %v", s.cfg.Producer.Speed, s.cfg.Producer.Synthetic.Interval)
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
