package compiler

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ztv1 "github.com/zerotrust-dev/zerotrust-operator/api/v1alpha1"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr(t time.Time) *time.Time { return &t }

func sched(tz string, ws ...ztv1.Window) *ztv1.Schedule {
	return &ztv1.Schedule{TimeZone: tz, Windows: ws}
}

func win(start, end string, days ...ztv1.Day) ztv1.Window {
	return ztv1.Window{Start: start, End: end, Days: days}
}

var weekdaysOnly = []ztv1.Day{"Mon", "Tue", "Wed", "Thu", "Fri"}

// TestEvaluateTime is the specification of schedules and expiry. 2026-06-15 is a Monday;
// Berlin is UTC+2 in summer. On 2026-03-29 Berlin skips 02:00-03:00 (CET to CEST), on
// 2026-10-25 it repeats 02:00-03:00 (CEST to CET).
func TestEvaluateTime(t *testing.T) {
	tests := map[string]struct {
		schedule  *ztv1.Schedule
		expiresAt string
		now       string
		active    bool
		reason    string
		next      *time.Time
	}{
		"no schedule, no expiry: always active, nothing to wait for": {
			now: "2026-06-15T10:00:00Z", active: true,
		},
		"expiry in the future is the next transition": {
			expiresAt: "2026-07-01T00:00:00Z", now: "2026-06-15T10:00:00Z", active: true, next: ptr(utc("2026-07-01T00:00:00Z")),
		},
		"expiry exactly now has expired": {
			expiresAt: "2026-06-15T10:00:00Z", now: "2026-06-15T10:00:00Z", reason: ReasonExpired,
		},
		"expiry one nanosecond ahead has not": {
			expiresAt: "2026-06-15T10:00:00Z", now: "2026-06-15T09:59:59.999999999Z", active: true, next: ptr(utc("2026-06-15T10:00:00Z")),
		},
		"expiry wins over an open window": {
			schedule: sched("UTC", win("00:00", "24:00")), expiresAt: "2026-06-01T00:00:00Z", now: "2026-06-15T10:00:00Z", reason: ReasonExpired,
		},
		"inside office hours, in Berlin: closes at 17:00 local": {
			schedule: sched("Europe/Berlin", win("09:00", "17:00", weekdaysOnly...)), now: "2026-06-15T10:00:00Z",
			active: true, next: ptr(utc("2026-06-15T15:00:00Z")),
		},
		"before office hours: opens at 09:00 local": {
			schedule: sched("Europe/Berlin", win("09:00", "17:00", weekdaysOnly...)), now: "2026-06-15T06:00:00Z",
			reason: ReasonOutsideSchedule, next: ptr(utc("2026-06-15T07:00:00Z")),
		},
		"Friday evening: opens on Monday": {
			schedule: sched("Europe/Berlin", win("09:00", "17:00", weekdaysOnly...)), now: "2026-06-19T16:00:00Z",
			reason: ReasonOutsideSchedule, next: ptr(utc("2026-06-22T07:00:00Z")),
		},
		"start is inclusive": {
			schedule: sched("UTC", win("09:00", "17:00")), now: "2026-06-15T09:00:00Z", active: true, next: ptr(utc("2026-06-15T17:00:00Z")),
		},
		"end is exclusive": {
			schedule: sched("UTC", win("09:00", "17:00")), now: "2026-06-15T17:00:00Z", reason: ReasonOutsideSchedule, next: ptr(utc("2026-06-16T09:00:00Z")),
		},
		"time zone defaults to UTC": {
			schedule: sched("", win("09:00", "17:00")), now: "2026-06-15T08:59:00Z", reason: ReasonOutsideSchedule, next: ptr(utc("2026-06-15T09:00:00Z")),
		},
		"past midnight, before midnight": {
			schedule: sched("UTC", win("22:00", "02:00")), now: "2026-06-15T23:00:00Z", active: true, next: ptr(utc("2026-06-16T02:00:00Z")),
		},
		"past midnight, after midnight": {
			schedule: sched("UTC", win("22:00", "02:00")), now: "2026-06-16T01:00:00Z", active: true, next: ptr(utc("2026-06-16T02:00:00Z")),
		},
		"past midnight: the day is the day the window opens": {
			// Opened Friday 22:00, still open on Saturday 01:00.
			schedule: sched("UTC", win("22:00", "02:00", "Fri")), now: "2026-06-20T01:00:00Z", active: true, next: ptr(utc("2026-06-20T02:00:00Z")),
		},
		"past midnight: no window opened the evening before": {
			schedule: sched("UTC", win("22:00", "02:00", "Fri")), now: "2026-06-21T01:00:00Z",
			reason: ReasonOutsideSchedule, next: ptr(utc("2026-06-26T22:00:00Z")),
		},
		"24:00 is the end of the day": {
			schedule: sched("UTC", win("18:00", "24:00", "Mon")), now: "2026-06-15T23:59:59Z", active: true, next: ptr(utc("2026-06-16T00:00:00Z")),
		},
		"24:00: the next day is outside": {
			schedule: sched("UTC", win("18:00", "24:00", "Mon")), now: "2026-06-16T00:00:00Z",
			reason: ReasonOutsideSchedule, next: ptr(utc("2026-06-22T18:00:00Z")),
		},
		"windows that meet make no transition at midnight": {
			schedule: sched("UTC", win("18:00", "24:00", "Mon"), win("00:00", "06:00", "Tue")), now: "2026-06-15T23:00:00Z",
			active: true, next: ptr(utc("2026-06-16T06:00:00Z")),
		},
		"every day, all day: open, nothing to wait for": {
			schedule: sched("Europe/Berlin", win("00:00", "24:00")), now: "2026-06-15T10:00:00Z", active: true,
		},
		"every day, all day, with expiry: the expiry is next": {
			schedule: sched("UTC", win("00:00", "24:00")), expiresAt: "2026-06-20T00:00:00Z", now: "2026-06-15T10:00:00Z",
			active: true, next: ptr(utc("2026-06-20T00:00:00Z")),
		},
		"window closes after the expiry: the expiry is next": {
			schedule: sched("UTC", win("09:00", "17:00")), expiresAt: "2026-06-15T12:00:00Z", now: "2026-06-15T10:00:00Z",
			active: true, next: ptr(utc("2026-06-15T12:00:00Z")),
		},
		"outside, expiring before the next window: the expiry is next": {
			schedule: sched("UTC", win("09:00", "17:00")), expiresAt: "2026-06-15T20:00:00Z", now: "2026-06-15T18:00:00Z",
			reason: ReasonOutsideSchedule, next: ptr(utc("2026-06-15T20:00:00Z")),
		},
		"DST spring forward: a window across the skipped hour is an hour shorter": {
			// 01:00 CET = 00:00Z; 04:00 CEST = 02:00Z.
			schedule: sched("Europe/Berlin", win("01:00", "04:00", "Sun")), now: "2026-03-29T01:30:00Z",
			active: true, next: ptr(utc("2026-03-29T02:00:00Z")),
		},
		"DST spring forward: office hours move by an hour in UTC": {
			// Friday 17:00 CET = 16:00Z; Monday 09:00 CEST = 07:00Z.
			schedule: sched("Europe/Berlin", win("09:00", "17:00", weekdaysOnly...)), now: "2026-03-27T16:00:00Z",
			reason: ReasonOutsideSchedule, next: ptr(utc("2026-03-30T07:00:00Z")),
		},
		"DST fall back: Sunday lasts 25 hours": {
			// 00:00 CEST = 22:00Z the day before; 24:00 CET = 23:00Z.
			schedule: sched("Europe/Berlin", win("00:00", "24:00", "Sun")), now: "2026-10-25T12:00:00Z",
			active: true, next: ptr(utc("2026-10-25T23:00:00Z")),
		},
		"DST fall back: opens at local midnight": {
			schedule: sched("Europe/Berlin", win("00:00", "24:00", "Sun")), now: "2026-10-24T21:59:00Z",
			reason: ReasonOutsideSchedule, next: ptr(utc("2026-10-24T22:00:00Z")),
		},
		"unknown time zone": {
			schedule: sched("Mars/Olympus_Mons", win("09:00", "17:00")), now: "2026-06-15T10:00:00Z", reason: ReasonInvalidSchedule,
		},
		"Local is not a time zone": {
			schedule: sched("Local", win("09:00", "17:00")), now: "2026-06-15T10:00:00Z", reason: ReasonInvalidSchedule,
		},
		"malformed start": {
			schedule: sched("UTC", win("9:00", "17:00")), now: "2026-06-15T10:00:00Z", reason: ReasonInvalidSchedule,
		},
		"24:00 is not a start": {
			schedule: sched("UTC", win("24:00", "01:00")), now: "2026-06-15T10:00:00Z", reason: ReasonInvalidSchedule,
		},
		"empty window": {
			schedule: sched("UTC", win("09:00", "09:00")), now: "2026-06-15T10:00:00Z", reason: ReasonInvalidSchedule,
		},
		"unknown day": {
			schedule: sched("UTC", win("09:00", "10:00", "Monday")), now: "2026-06-15T10:00:00Z", reason: ReasonInvalidSchedule,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec := &ztv1.ServiceAccessPolicySpec{Schedule: tc.schedule}
			if tc.expiresAt != "" {
				spec.ExpiresAt = &metav1.Time{Time: utc(tc.expiresAt)}
			}
			got := evaluateTime(spec, utc(tc.now))
			if got.active != tc.active || got.reason != tc.reason {
				t.Errorf("active, reason = %v, %q; want %v, %q (%s)", got.active, got.reason, tc.active, tc.reason, got.message)
			}
			if got.reason == ReasonInvalidSchedule || got.reason == ReasonExpired {
				if got.next != nil {
					t.Errorf("next = %v; want none once nothing can change", got.next)
				}
				if !strings.HasPrefix(got.message, "spec.") {
					t.Errorf("message %q does not name the field", got.message)
				}
				return
			}
			switch {
			case tc.next == nil && got.next != nil:
				t.Errorf("next = %v; want none", got.next.UTC())
			case tc.next != nil && got.next == nil:
				t.Errorf("next = none; want %v", tc.next.UTC())
			case tc.next != nil && !got.next.Equal(*tc.next):
				t.Errorf("next = %v; want %v", got.next.UTC(), tc.next.UTC())
			}
		})
	}
}

// TestScheduleTransitionsAreConsistent walks a year in 17-minute steps and checks that
// the state only changes at the announced transition: a wrong NextTransition would make
// the operator remove or restore access late.
func TestScheduleTransitionsAreConsistent(t *testing.T) {
	spec := &ztv1.ServiceAccessPolicySpec{Schedule: sched("Europe/Berlin",
		win("09:00", "17:00", weekdaysOnly...), win("22:30", "01:15", "Sat"), win("20:00", "24:00", "Sun"))}
	now := utc("2026-01-01T00:00:00Z")
	prev := evaluateTime(spec, now)
	for end := now.AddDate(1, 0, 0); now.Before(end); now = now.Add(17 * time.Minute) {
		st := evaluateTime(spec, now)
		if st.next == nil {
			t.Fatalf("%v: no next transition", now)
		}
		if st.active != prev.active && (prev.next == nil || prev.next.After(now)) {
			t.Fatalf("%v: state changed to active=%v before the announced transition %v", now, st.active, prev.next)
		}
		if !st.next.After(now) {
			t.Fatalf("%v: next transition %v is not in the future", now, st.next)
		}
		// Just before the transition the state is unchanged; at it, it flips.
		before := evaluateTime(spec, st.next.Add(-time.Nanosecond))
		at := evaluateTime(spec, *st.next)
		if before.active != st.active || at.active == st.active {
			t.Fatalf("%v: transition at %v does not flip the state (%v -> %v)", now, st.next, before.active, at.active)
		}
		prev = st
	}
}
