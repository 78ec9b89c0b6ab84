//! When a group is on duty: weekly shifts in the group's own IANA time zone, with dated
//! exceptions (a holiday off, extra hours). Kazakhstan keeps one offset all year (UTC+5 since
//! 2024), but groups in other zones and zones with summer time work the same way, because every
//! check converts the instant to the group's wall clock first.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

/// One recurring shift: `day` 1 (Monday) to 7 (Sunday), times in minutes after midnight.
/// An end at or before the start runs past midnight into the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    pub day: u8,
    pub start_min: u16,
    pub end_min: u16,
}

/// A date that differs from the weekly pattern. Its shifts' `day` is ignored: they apply to
/// `date`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub date: NaiveDate,
    pub off: bool,
    pub shifts: Vec<Shift>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub zone: Tz,
    pub weekly: Vec<Shift>,
    pub exceptions: Vec<Exception>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}; use an IANA name such as Asia/Almaty")]
pub struct UnknownZone(pub String);

/// Reads an IANA time zone name.
pub fn zone(name: &str) -> Result<Tz, UnknownZone> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| UnknownZone(name.to_string()))
}

impl Schedule {
    /// The shifts that start on `date`, and whether the date has its own list.
    fn shifts_on(&self, date: NaiveDate) -> Option<Vec<Shift>> {
        if let Some(e) = self.exceptions.iter().find(|e| e.date == date) {
            return Some(if e.off { Vec::new() } else { e.shifts.clone() });
        }
        if self.weekly.is_empty() {
            // No weekly pattern: on duty all day, except on exception dates.
            return None;
        }
        let day = date.weekday().number_from_monday() as u8;
        Some(
            self.weekly
                .iter()
                .copied()
                .filter(|s| s.day == day)
                .collect(),
        )
    }

    /// Whether the group is on duty at `at`.
    pub fn on_duty(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone);
        let date = local.date_naive();
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let Some(today) = self.shifts_on(date) else {
            return true;
        };
        let started_today = today.iter().any(|s| {
            if s.start_min < s.end_min {
                (s.start_min..s.end_min).contains(&minute)
            } else {
                minute >= s.start_min
            }
        });
        if started_today {
            return true;
        }
        // The tail of last night's shift.
        let yesterday = date.pred_opt().and_then(|d| self.shifts_on(d));
        match yesterday {
            // Yesterday had no pattern, so it was all day; its day ended at midnight.
            None => false,
            Some(shifts) => shifts
                .iter()
                .any(|s| s.end_min <= s.start_min && minute < s.end_min),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn almaty() -> Tz {
        zone("Asia/Almaty").unwrap()
    }

    /// An instant given as Almaty wall-clock time.
    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        almaty()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn weekdays_9_to_18() -> Schedule {
        Schedule {
            zone: almaty(),
            weekly: (1..=5)
                .map(|day| Shift {
                    day,
                    start_min: 9 * 60,
                    end_min: 18 * 60,
                })
                .collect(),
            exceptions: vec![],
        }
    }

    #[test]
    fn kazakhstan_is_utc_plus_5() {
        // 2026-11-23 is a Monday: 09:00 in Almaty is 04:00 UTC.
        let s = weekdays_9_to_18();
        assert!(s.on_duty(Utc.with_ymd_and_hms(2026, 11, 23, 4, 0, 0).unwrap()));
        assert!(!s.on_duty(Utc.with_ymd_and_hms(2026, 11, 23, 3, 59, 0).unwrap()));
    }

    #[test]
    fn weekly_shifts_and_weekends() {
        let s = weekdays_9_to_18();
        assert!(s.on_duty(at(2026, 11, 23, 12, 0)), "Monday noon");
        assert!(!s.on_duty(at(2026, 11, 23, 18, 0)), "end is exclusive");
        assert!(!s.on_duty(at(2026, 11, 28, 12, 0)), "Saturday");
    }

    #[test]
    fn exceptions_replace_the_day() {
        let mut s = weekdays_9_to_18();
        // 16 December, Independence Day: off. The Saturday before: extra hours.
        s.exceptions.push(Exception {
            date: NaiveDate::from_ymd_opt(2026, 12, 16).unwrap(),
            off: true,
            shifts: vec![],
        });
        s.exceptions.push(Exception {
            date: NaiveDate::from_ymd_opt(2026, 12, 12).unwrap(),
            off: false,
            shifts: vec![Shift {
                day: 0,
                start_min: 10 * 60,
                end_min: 14 * 60,
            }],
        });
        assert!(!s.on_duty(at(2026, 12, 16, 12, 0)));
        assert!(s.on_duty(at(2026, 12, 12, 11, 0)));
        assert!(!s.on_duty(at(2026, 12, 12, 15, 0)));
    }

    #[test]
    fn night_shifts_run_past_midnight() {
        let s = Schedule {
            zone: almaty(),
            weekly: vec![Shift {
                day: 5,
                start_min: 22 * 60,
                end_min: 6 * 60,
            }],
            exceptions: vec![],
        };
        assert!(s.on_duty(at(2026, 11, 27, 23, 0)), "Friday night");
        assert!(s.on_duty(at(2026, 11, 28, 5, 59)), "Saturday early morning");
        assert!(!s.on_duty(at(2026, 11, 28, 6, 0)));
        assert!(!s.on_duty(at(2026, 11, 27, 21, 0)));
    }

    #[test]
    fn summer_time_zones_use_local_wall_clock() {
        let s = Schedule {
            zone: zone("Europe/Berlin").unwrap(),
            weekly: vec![Shift {
                day: 1,
                start_min: 9 * 60,
                end_min: 10 * 60,
            }],
            exceptions: vec![],
        };
        // 09:30 Berlin: 07:30 UTC in summer, 08:30 UTC in winter.
        assert!(s.on_duty(Utc.with_ymd_and_hms(2026, 7, 6, 7, 30, 0).unwrap()));
        assert!(s.on_duty(Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 0).unwrap()));
        assert!(!s.on_duty(Utc.with_ymd_and_hms(2026, 11, 23, 7, 30, 0).unwrap()));
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert!(zone("Asia/Nowhere").is_err());
        assert!(zone("").is_err());
        assert!(zone("Asia/Almaty").is_ok());
    }

    proptest! {
        #[test]
        fn no_pattern_means_always_on_duty(secs in 0i64..4_000_000_000) {
            let s = Schedule { zone: almaty(), weekly: vec![], exceptions: vec![] };
            prop_assert!(s.on_duty(DateTime::from_timestamp(secs, 0).unwrap()));
        }

        #[test]
        fn a_day_shift_covers_exactly_its_minutes(
            day in 1u8..=7,
            start in 0u16..1439,
            len in 1u16..600,
            probe_min in 0u16..1440,
        ) {
            let end = (start + len).min(1439);
            prop_assume!(end > start);
            let s = Schedule {
                zone: almaty(),
                weekly: vec![Shift { day, start_min: start, end_min: end }],
                exceptions: vec![],
            };
            // 2026-11-23 is a Monday; walk to the shift's weekday.
            let date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
                + chrono::Days::new(u64::from(day - 1));
            let probe = at(
                date.year(),
                date.month(),
                date.day(),
                u32::from(probe_min / 60),
                u32::from(probe_min % 60),
            );
            prop_assert_eq!(s.on_duty(probe), (start..end).contains(&probe_min));
        }
    }
}
