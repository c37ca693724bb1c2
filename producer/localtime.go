package producer

import (
	"fmt"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// localClock reads a weekly file's DATE and TIME, clock readings in the
// data's time zone, as instants, row by row in file order. A reading the
// clock shows once is that instant. Around daylight-saving transitions
// (MTA data: New York, the second Sunday of March and the first Sunday of
// November):
//
//   - A reading in the hour the clocks go back over (01:00-01:59 on
//     2024-11-03) is shown twice. It is decided per device, from the
//     file's order: a device's readings in that hour are the first pass
//     (daylight time, EDT) until the device's clock goes back or repeats
//     within that hour; that reading and the device's later ones in that
//     hour are the second pass (standard time, EST). So 01:00 then 01:00
//     again are 05:00Z and 06:00Z, and a lone 01:30 is the first, 05:30Z.
//   - A reading in the hour the clocks skip (02:00-02:59 on 2024-03-10)
//     is never shown. It is read with the offset in effect before the
//     transition (EST), so 02:30 is 07:30Z, shown as 03:30 EDT: as if the
//     device's clock had not been moved forward yet.
//
// A localClock is used by one goroutine (the file's reader).
type localClock struct {
	zone *time.Location
	// repeated is, per device, where it is in a repeated hour.
	repeated map[string]*repeatedHour
}

// repeatedHour is a device's progress through the repeated hour of a day.
type repeatedHour struct {
	day    time.Time // the local date (DATE, as a UTC midnight)
	last   time.Time // the clock reading of the device's latest reading in it
	second bool      // the device has gone back: its readings are the second pass
}

// newLocalClock reads clocks in zone (nil: CSVConfig's default).
func newLocalClock(zone *time.Location) *localClock {
	if zone == nil {
		zone = schemas.DefaultLocation()
	}
	return &localClock{zone: zone, repeated: map[string]*repeatedHour{}}
}

// instant returns the instant of device's reading shown as clock on the
// zone's clock (a clock reading written as a UTC time, from DATE and
// TIME), by the rules of localClock.
func (c *localClock) instant(device string, clock time.Time) (time.Time, error) {
	found, before, ok := clockInstants(c.zone, clock)
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) == 0 && ok:
		return before, nil
	case len(found) == 0:
		return time.Time{}, fmt.Errorf("no instant shows %s in %s", clock.Format("2006-01-02 15:04:05"), c.zone)
	}
	// Shown twice (or more, a zone going back twice within a day: the
	// passes after the second are not told apart).
	day := clock.Truncate(24 * time.Hour)
	st := c.repeated[device]
	if st == nil || !st.day.Equal(day) {
		st = &repeatedHour{day: day}
		c.repeated[device] = st
	} else if !st.second && !clock.After(st.last) {
		st.second = true
	}
	st.last = clock
	if st.second {
		return found[1], nil
	}
	return found[0], nil
}

// clockInstants lists the instants at which zone's clock shows clock (a
// clock reading written as a UTC time), earliest first: one, two when the
// clocks go back over it, none when they skip it. For a skipped reading,
// before is it read with the offset in effect just before the skip, and ok
// is true.
func clockInstants(zone *time.Location, clock time.Time) (found []time.Time, before time.Time, ok bool) {
	// Walk the zone's periods (spans of one UTC offset) from the earliest
	// instant that could show clock to the latest; in each, the one
	// candidate is clock minus the period's offset.
	const reach = 26 * time.Hour // beyond every UTC offset
	u, stop := clock.Add(-reach), clock.Add(reach)
	pastPrev, prevOff := false, 0
	for {
		t := u.In(zone)
		_, off := t.Zone()
		_, end := t.ZoneBounds()
		cand := clock.Add(-time.Duration(off) * time.Second)
		switch {
		case cand.Before(u):
			if pastPrev && len(found) == 0 && !ok {
				// Past the previous period's clock, before this one's: skipped.
				before, ok = clock.Add(-time.Duration(prevOff)*time.Second), true
			}
		case end.IsZero() || cand.Before(end):
			found = append(found, cand.UTC())
		}
		if end.IsZero() || end.After(stop) {
			return found, before, ok
		}
		pastPrev, prevOff = !cand.Before(end), off
		u = end
	}
}
