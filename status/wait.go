package status

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/twmb/franz-go/pkg/kadm"
)

// WaitConfig configures Wait.
type WaitConfig struct {
	// Config names the groups that must catch up (see Collect).
	Config
	// Interval between polls (default 1s).
	Interval time.Duration
	// Progress, when not nil, shows a progress bar with an ETA computed
	// from how fast the lag goes down.
	Progress io.Writer
	// OnReport, when not nil, sees every report.
	OnReport func(*Report)
}

// Defaults fills zero fields (Interval also when negative).
func (c *WaitConfig) Defaults() {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
}

// Wait polls until every present group has caught up (on two consecutive
// polls, so that records in flight between stages are seen) and returns
// the last report. It returns ctx's error if ctx ends first.
func Wait(ctx context.Context, adm *kadm.Client, cfg WaitConfig) (*Report, error) {
	cfg.Defaults()
	var (
		bar     *progressbar.ProgressBar
		total   int64
		streak  int
		lastErr error
	)
	tk := time.NewTicker(cfg.Interval)
	defer tk.Stop()
	for {
		r, err := Collect(ctx, adm, cfg.Config)
		switch {
		case err != nil:
			lastErr = err
		default:
			lastErr = nil
			if cfg.OnReport != nil {
				cfg.OnReport(r)
			}
			lag := r.Lag()
			if cfg.Progress != nil {
				if bar == nil {
					total = max(lag, 1)
					bar = newBar(cfg.Progress, total)
				}
				if lag > total-bar.State().CurrentNum {
					// New input arrived faster than it was consumed.
					total = lag + bar.State().CurrentNum
					bar.ChangeMax64(total)
				}
				_ = bar.Set64(max(total-lag, bar.State().CurrentNum))
				bar.Describe(fmt.Sprintf("catching up, lag %d", lag))
			}
			if r.CaughtUp() {
				streak++
			} else {
				streak = 0
			}
			if streak >= 2 {
				if bar != nil {
					bar.Describe("caught up")
					_ = bar.Finish()
					fmt.Fprintln(cfg.Progress)
				}
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("status: %w (last error: %w)", ctx.Err(), lastErr)
			}
			return nil, fmt.Errorf("status: %w", ctx.Err())
		case <-tk.C:
		}
	}
}

func newBar(w io.Writer, total int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("catching up"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("rec"),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionThrottle(200*time.Millisecond),
	)
}
