package producer

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// rows is a weekly file's rows (CA,UNIT,SCP,DATE,TIME only vary) in the
// MTA layout, in file order.
func mtaCSV(rows [][3]string) string {
	var b strings.Builder
	b.WriteString(",CA,UNIT,SCP,STATION,LINENAME,DIVISION,DATE,TIME,DESC,ENTRIES,EXITS\n")
	for i, r := range rows {
		fmt.Fprintf(&b, "%d,A002,R051,%s,59 ST,NQR456W,BMT,%s,%s,REGULAR,%d,%d\n", i, r[0], r[1], r[2], 1000+i, 500+i)
	}
	return b.String()
}

// TestCSVTimesInNewYork reads DATE and TIME as New York time through both
// 2024 transitions, row by row in file order: the table's rows are one
// file, each with the instant it must get.
func TestCSVTimesInNewYork(t *testing.T) {
	rows := []struct {
		scp, date, clock string
		want             string // UTC
	}{
		{"02-00-00", "01/06/2024", "03:00:00", "2024-01-06 08:00:00"}, // EST, UTC-5
		{"02-00-00", "07/01/2024", "04:00:00", "2024-07-01 08:00:00"}, // EDT, UTC-4

		// Spring forward, 2024-03-10: 02:00 EST becomes 03:00 EDT at 07:00Z.
		{"02-00-00", "03/10/2024", "01:59:59", "2024-03-10 06:59:59"},
		{"02-00-00", "03/10/2024", "02:00:00", "2024-03-10 07:00:00"}, // skipped: read in EST
		{"02-00-00", "03/10/2024", "02:30:00", "2024-03-10 07:30:00"}, // skipped: read in EST
		{"02-00-00", "03/10/2024", "03:00:00", "2024-03-10 07:00:00"}, // EDT
		{"02-00-00", "03/10/2024", "04:00:00", "2024-03-10 08:00:00"},

		// Fall back, 2024-11-03: 02:00 EDT becomes 01:00 EST at 06:00Z;
		// 01:00-01:59 is shown twice, first EDT (05:00Z-06:00Z) then EST.
		{"02-00-00", "11/03/2024", "00:59:59", "2024-11-03 04:59:59"},
		{"02-00-00", "11/03/2024", "01:00:00", "2024-11-03 05:00:00"}, // first pass
		{"02-00-00", "11/03/2024", "01:00:00", "2024-11-03 06:00:00"}, // repeated: the second pass
		{"02-00-00", "11/03/2024", "01:30:00", "2024-11-03 06:30:00"}, // still the second pass
		{"02-00-00", "11/03/2024", "02:00:00", "2024-11-03 07:00:00"}, // EST
		{"02-00-01", "11/03/2024", "01:30:00", "2024-11-03 05:30:00"}, // another device: its own first pass
		{"02-00-02", "11/03/2024", "01:00:00", "2024-11-03 05:00:00"},
		{"02-00-02", "11/03/2024", "01:45:00", "2024-11-03 05:45:00"}, // forward: first pass
		{"02-00-02", "11/03/2024", "01:15:00", "2024-11-03 06:15:00"}, // back: the second pass
		{"02-00-02", "11/03/2024", "01:50:00", "2024-11-03 06:50:00"},
		{"02-00-00", "11/05/2023", "01:20:00", "2023-11-05 05:20:00"}, // a year before: a new repeated hour
	}
	var in [][3]string
	for _, r := range rows {
		in = append(in, [3]string{r.scp, r.date, r.clock})
	}
	ny, err := schemas.LoadTimeZone("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, order := range []Order{OrderFile, OrderEvent, OrderShuffle} {
		t.Run(string(order), func(t *testing.T) {
			src, err := readCSV(strings.NewReader(mtaCSV(in)), "test", CSVConfig{Order: order, TimeZone: ny}, 5)
			if err != nil {
				t.Fatal(err)
			}
			if src.skipped != 0 || len(src.items) != len(rows) {
				t.Fatalf("%d items, %d skipped", len(src.items), src.skipped)
			}
			// ENTRIES is the row number: find each row whatever the order.
			for _, it := range src.items {
				i := int(it.reading.Entries - 1000)
				r := rows[i]
				want, _ := time.Parse(schemas.TimestampLayout, r.want)
				day, _ := time.Parse(schemas.WindowDateLayout, r.date)
				if !it.event.Equal(want) || !it.reading.EventTime.Equal(want) || it.reading.Timestamp != r.want ||
					it.reading.Date != day.Format(schemas.ReadingDateLayout) || it.reading.Time != r.clock {
					t.Errorf("row %d (%s %s %s): event %v, EVENT_TIME %v, TIMESTAMP %s, DATE %s, TIME %s; want %s UTC, DATE and TIME as in the file",
						i, r.scp, r.date, r.clock, it.event, it.reading.EventTime, it.reading.Timestamp, it.reading.Date, it.reading.Time, r.want)
				}
			}
		})
	}
}

// Other zones: any IANA zone, and UTC reads the clock as the instant.
func TestCSVTimesInOtherZones(t *testing.T) {
	for _, tc := range []struct {
		zone, date, clock, want string
	}{
		{"UTC", "03/10/2024", "02:30:00", "2024-03-10 02:30:00"},
		{"Europe/London", "03/31/2024", "01:30:00", "2024-03-31 01:30:00"},       // skipped: read in GMT
		{"Europe/London", "10/27/2024", "01:30:00", "2024-10-27 00:30:00"},       // repeated: BST first
		{"Australia/Lord_Howe", "04/07/2024", "01:45:00", "2024-04-06 14:45:00"}, // repeated half hour: +11 first
		{"Asia/Kolkata", "01/06/2024", "05:30:00", "2024-01-06 00:00:00"},
	} {
		loc, err := schemas.LoadTimeZone(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		src, err := readCSV(strings.NewReader(mtaCSV([][3]string{{"02-00-00", tc.date, tc.clock}})), "test", CSVConfig{Order: OrderFile, TimeZone: loc}, 1)
		if err != nil || len(src.items) != 1 {
			t.Fatalf("%s: %v %v", tc.zone, src, err)
		}
		if got := src.items[0].reading.Timestamp; got != tc.want {
			t.Errorf("%s %s %s: %s UTC, want %s", tc.zone, tc.date, tc.clock, got, tc.want)
		}
	}
}
