package schemas

import "time"

// The sink rows' fixed time layouts ([WindowKeyTime], [WindowDateLayout],
// [ClockLayout]) written digit by digit: the relay formats three per
// window row, and time.Format's layout interpreter was 3 % of the
// pipeline's CPU. Years outside 0-9999 go through time.Format, which
// writes them differently (TestTimeLayoutsAreTimeFormats).

func appendDigits2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

func appendDigits4(b []byte, n int) []byte {
	return append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

func fourDigitYear(y int) bool { return y >= 0 && y <= 9999 }

// appendKeyTime appends t in UTC as [WindowKeyTime].
func appendKeyTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if !fourDigitYear(y) {
		return t.AppendFormat(b, WindowKeyTime)
	}
	h, mi, s := t.Clock()
	b = appendDigits4(b, y)
	b = append(b, '-')
	b = appendDigits2(b, int(mo))
	b = append(b, '-')
	b = appendDigits2(b, d)
	b = append(b, 'T')
	b = appendDigits2(b, h)
	b = append(b, ':')
	b = appendDigits2(b, mi)
	b = append(b, ':')
	b = appendDigits2(b, s)
	return append(b, 'Z')
}

// endFields formats t (already in its zone) as [WindowDateLayout] and
// [ClockLayout], both sharing one allocation.
func endFields(t time.Time) (date, clock string) {
	y, mo, d := t.Date()
	if !fourDigitYear(y) {
		return t.Format(WindowDateLayout), t.Format(ClockLayout)
	}
	h, mi, s := t.Clock()
	var a [len(WindowDateLayout) + len(ClockLayout)]byte
	b := a[:0]
	b = appendDigits2(b, int(mo))
	b = append(b, '/')
	b = appendDigits2(b, d)
	b = append(b, '/')
	b = appendDigits4(b, y)
	b = appendDigits2(b, h)
	b = append(b, ':')
	b = appendDigits2(b, mi)
	b = append(b, ':')
	b = appendDigits2(b, s)
	all := string(b)
	return all[:len(WindowDateLayout)], all[len(WindowDateLayout):]
}
