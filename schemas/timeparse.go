package schemas

import "time"

// The readings' fixed time layouts ([ReadingDateLayout], [ClockLayout],
// [TimestampLayout]) read digit by digit: validation parses all three for
// every reading, and time.Parse's layout interpreter was 3.5 % of the
// pipeline's CPU. Each fast path accepts only the canonical shape, and
// only values time.Parse accepts with the same result; anything else
// (another shape, a zone, a fraction, a value out of range) goes to
// time.Parse, so what is accepted and what is rejected, with which error,
// is time.Parse's (TestFastTimesAreTimeParse).

// digits2 is the number of the two ASCII digits at s[i:i+2].
func digits2(s string, i int) (int, bool) {
	a, b := s[i]-'0', s[i+1]-'0'
	if a > 9 || b > 9 {
		return 0, false
	}
	return int(a)*10 + int(b), true
}

// dateOK reports whether year, month and day name a day of the proleptic
// Gregorian calendar, as time.Parse checks them.
func dateOK(year, month, day int) bool {
	if month < 1 || month > 12 || day < 1 {
		return false
	}
	return day <= time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// clockOK reports whether hour, minute and second are a time.Parse clock.
func clockOK(hour, minute, second int) bool {
	return hour < 24 && minute < 60 && second < 60
}

// fastReadingDate reads s as MM-DD-YY when it has exactly that shape and
// is a valid date; ok is false otherwise (the caller asks time.Parse).
func fastReadingDate(s string) (ok bool) {
	if len(s) != len(ReadingDateLayout) || s[2] != '-' || s[5] != '-' {
		return false
	}
	m, ok1 := digits2(s, 0)
	d, ok2 := digits2(s, 3)
	yy, ok3 := digits2(s, 6)
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	year := 2000 + yy
	if yy >= 69 { // time.Parse's two-digit years: 69-99 are 19xx
		year = 1900 + yy
	}
	return dateOK(year, m, d)
}

// validReadingDate reports whether time.Parse(ReadingDateLayout, s)
// succeeds.
func validReadingDate(s string) bool {
	if fastReadingDate(s) {
		return true
	}
	_, err := time.Parse(ReadingDateLayout, s)
	return err == nil
}

// fastClock reads s as HH:MM:SS when it has exactly that shape and is a
// valid time of day.
func fastClock(s string) (time.Duration, bool) {
	if len(s) != len(ClockLayout) || s[2] != ':' || s[5] != ':' {
		return 0, false
	}
	h, ok1 := digits2(s, 0)
	m, ok2 := digits2(s, 3)
	sec, ok3 := digits2(s, 6)
	if !ok1 || !ok2 || !ok3 || !clockOK(h, m, sec) {
		return 0, false
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second, true
}

// fastTimestamp reads s as YYYY-MM-DD HH:MM:SS (UTC) when it has exactly
// that shape and is a valid instant.
func fastTimestamp(s string) (time.Time, bool) {
	if len(s) != len(TimestampLayout) || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	y1, ok1 := digits2(s, 0)
	y2, ok2 := digits2(s, 2)
	mo, ok3 := digits2(s, 5)
	d, ok4 := digits2(s, 8)
	h, ok5 := digits2(s, 11)
	mi, ok6 := digits2(s, 14)
	sec, ok7 := digits2(s, 17)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 {
		return time.Time{}, false
	}
	y := y1*100 + y2
	if !dateOK(y, mo, d) || !clockOK(h, mi, sec) {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC), true
}
