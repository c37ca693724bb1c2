package datalake

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// weekBatch is one partition's flush of a week of 15-minute device
// windows, as `turnstile dev` writes the MTA week: n windows of n/6
// devices, a reading every 4 hours, over 8 dates.
func weekBatch(n int) *batch {
	ws := make([]schemas.DeviceWindow, 0, n)
	zone, _ := time.LoadLocation("America/New_York")
	devices := max(1, n/42)
	for i := 0; len(ws) < n; i++ {
		d := i % devices
		start := t0.Add(time.Duration(i/devices)*4*time.Hour + time.Duration(d%16)*15*time.Minute)
		w := devWin(fmt.Sprintf("R%03d", d/8), fmt.Sprintf("R%03d", 100+d/8), fmt.Sprintf("00-00-%02d", d%8),
			fmt.Sprintf("STATION %d", d/40), "NQR456W", start, 1, int64(10+d%300), int64(5+d%200))
		w.SetWindow(start, start.Add(15*time.Minute), zone)
		ws = append(ws, w)
	}
	return deviceBatch(0, ws...)
}

// BenchmarkWriteBatch writes one partition's batch of device windows to a
// local directory as the lake-writer's flush does (staged, committed,
// published), per format.
func BenchmarkWriteBatch(b *testing.B) {
	for _, tc := range []struct {
		name string
		f    Format
	}{{"both", Format{}}, {"csv", Format{NoParquet: true}}, {"parquet", Format{NoCSV: true}}} {
		b.Run(tc.name, func(b *testing.B) {
			bt := weekBatch(16_000)
			s, err := Open(context.Background(), b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sp := span{Topic: "t", Partition: int32(i), First: bt.first, Last: bt.last}
				if _, _, err := writeBatch(context.Background(), s, DeviceWindows, sp, bt, tc.f, batchHooks{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bt.devices)), "ns/row")
		})
	}
}
