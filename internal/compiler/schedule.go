package compiler

import (
	"fmt"
	"sort"
	"time"

	// The time zone database is embedded so that a schedule means the same thing on every
	// machine, including distroless images without /usr/share/zoneinfo.
	_ "time/tzdata"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

// timeState is what the clock says about a policy at an instant.
type timeState struct {
	// active is true when the policy may grant access now.
	active bool
	// reason and message explain an inactive state (Expired, OutsideSchedule,
	// InvalidSchedule); empty when active.
	reason, message string
	// next is the next instant at which active, or the reason, changes; nil if never.
	next *time.Time
}

// evaluateTime applies spec.expiresAt and spec.schedule at now. Expiry is checked first: it
// is final, whatever the schedule says.
func evaluateTime(spec *ztv1.ServiceAccessPolicySpec, now time.Time) timeState {
	if spec.ExpiresAt != nil && !now.Before(spec.ExpiresAt.Time) {
		return timeState{reason: ReasonExpired, message: fmt.Sprintf(
			"spec.expiresAt: access expired at %s; set a later expiresAt to grant it again",
			spec.ExpiresAt.UTC().Format(time.RFC3339))}
	}
	st := timeState{active: true}
	if spec.Schedule != nil {
		sched, err := parseSchedule(spec.Schedule)
		if err != nil {
			return timeState{reason: ReasonInvalidSchedule, message: err.Error() + "; until it is fixed the policy grants nothing"}
		}
		active, next := sched.at(now)
		st.active, st.next = active, next
		if !active {
			st.reason = ReasonOutsideSchedule
			st.message = fmt.Sprintf("spec.schedule: now is outside every window (time zone %s); access opens with the next window, see status.nextTransition",
				sched.loc.String())
		}
	}
	if spec.ExpiresAt != nil && (st.next == nil || spec.ExpiresAt.Time.Before(*st.next)) {
		t := spec.ExpiresAt.Time
		st.next = &t
	}
	return st
}

// schedule is a parsed spec.schedule.
type schedule struct {
	loc     *time.Location
	windows []window
}

// window is a parsed Window: minutes after local midnight, and the weekdays it opens on.
type window struct {
	days       map[time.Weekday]bool // nil: every day
	start, end int                   // end may be 1440 (24:00); end < start runs past midnight
}

var weekdays = map[ztv1.Day]time.Weekday{
	"Mon": time.Monday, "Tue": time.Tuesday, "Wed": time.Wednesday, "Thu": time.Thursday,
	"Fri": time.Friday, "Sat": time.Saturday, "Sun": time.Sunday,
}

// parseSchedule checks a schedule and loads its time zone. Errors name the field.
func parseSchedule(s *ztv1.Schedule) (*schedule, error) {
	tz := s.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	// "Local" would make the schedule depend on the machine the operator runs on.
	if tz == "Local" {
		return nil, fmt.Errorf("spec.schedule.timeZone: %q is the clock of whatever machine runs the operator; use an IANA name such as Europe/Berlin or UTC", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("spec.schedule.timeZone: unknown time zone %q; use an IANA name such as Europe/Berlin or UTC", tz)
	}
	if len(s.Windows) == 0 {
		return nil, fmt.Errorf("spec.schedule.windows: at least one window is required")
	}
	out := &schedule{loc: loc}
	for i, w := range s.Windows {
		f := fmt.Sprintf("spec.schedule.windows[%d]", i)
		pw := window{}
		var err error
		if pw.start, err = parseClock(w.Start, false); err != nil {
			return nil, fmt.Errorf("%s.start: %v", f, err)
		}
		if pw.end, err = parseClock(w.End, true); err != nil {
			return nil, fmt.Errorf("%s.end: %v", f, err)
		}
		if pw.start == pw.end {
			return nil, fmt.Errorf("%s: start and end are both %s; a window must have a length", f, w.Start)
		}
		if len(w.Days) > 0 {
			pw.days = map[time.Weekday]bool{}
			for j, d := range w.Days {
				wd, ok := weekdays[d]
				if !ok {
					return nil, fmt.Errorf("%s.days[%d]: unknown day %q; use Mon, Tue, Wed, Thu, Fri, Sat or Sun", f, j, d)
				}
				pw.days[wd] = true
			}
		}
		out.windows = append(out.windows, pw)
	}
	return out, nil
}

// parseClock parses HH:MM into minutes after midnight; 24:00 only when allowEnd.
func parseClock(s string, allowEnd bool) (int, error) {
	digit := func(i int) (int, bool) { return int(s[i] - '0'), s[i] >= '0' && s[i] <= '9' }
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h1, ok1 := digit(0)
	h2, ok2 := digit(1)
	m1, ok3 := digit(3)
	m2, ok4 := digit(4)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h, m := h1*10+h2, m1*10+m2
	if allowEnd && h == 24 && m == 0 {
		return 24 * 60, nil
	}
	if h > 23 || m > 59 {
		return 0, fmt.Errorf("%q is not a time of day (00:00 to 23:59%s)", s, map[bool]string{true: ", or 24:00", false: ""}[allowEnd])
	}
	return h*60 + m, nil
}

type interval struct{ open, close time.Time }

// Days around now for which window occurrences are computed. A window opened at most two
// days before today can still be open (it runs past midnight by less than a day), and a
// weekly pattern that changes at all changes within eight days, so boundaries found before
// the start of day horizonEnd are exact and enough.
const (
	horizonStart = -2
	horizonEnd   = 10
)

// at says whether now is inside a window and when that next changes (nil: never, e.g. a
// window every day from 00:00 to 24:00).
//
// Occurrences are computed on the wall clock of the schedule's location: a window from
// 09:00 to 17:00 opens at 09:00 local time whatever the UTC offset that day, and on a day
// when clocks change it is an hour shorter or longer in real time. A wall time that does not
// exist (skipped by a DST change) is placed by time.Date, an occurrence that ends up empty
// is dropped.
func (s *schedule) at(now time.Time) (bool, *time.Time) {
	local := now.In(s.loc)
	y, m, d := local.Date()
	var ivs []interval
	for k := horizonStart; k < horizonEnd; k++ {
		// Civil date arithmetic in UTC: always 24-hour days.
		day := time.Date(y, m, d+k, 0, 0, 0, 0, time.UTC)
		for _, w := range s.windows {
			if w.days != nil && !w.days[day.Weekday()] {
				continue
			}
			endDay := day.Day()
			if w.end < w.start {
				endDay++
			}
			open := time.Date(day.Year(), day.Month(), day.Day(), w.start/60, w.start%60, 0, 0, s.loc)
			close := time.Date(day.Year(), day.Month(), endDay, w.end/60, w.end%60, 0, 0, s.loc)
			if close.After(open) {
				ivs = append(ivs, interval{open, close})
			}
		}
	}
	limit := time.Date(y, m, d+horizonEnd, 0, 0, 0, 0, s.loc)
	merged := mergeIntervals(ivs)
	active := false
	var next *time.Time
	consider := func(t time.Time) {
		if t.After(now) && t.Before(limit) && (next == nil || t.Before(*next)) {
			t := t
			next = &t
		}
	}
	for _, iv := range merged {
		if !now.Before(iv.open) && now.Before(iv.close) {
			active = true
		}
		consider(iv.open)
		consider(iv.close)
	}
	return active, next
}

// mergeIntervals unions overlapping and touching intervals, so that two windows that meet
// (Mon 18:00-24:00 and Tue 00:00-06:00) make no transition at midnight.
func mergeIntervals(ivs []interval) []interval {
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].open.Before(ivs[j].open) })
	var out []interval
	for _, iv := range ivs {
		if n := len(out); n > 0 && !iv.open.After(out[n-1].close) {
			if iv.close.After(out[n-1].close) {
				out[n-1].close = iv.close
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}
