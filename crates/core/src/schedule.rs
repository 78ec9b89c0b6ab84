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

impl Schedule {
    /// The first moment at or after `from` when the group is on duty, looking two weeks ahead
    /// (every weekly pattern repeats within one; exceptions are dated). `None` when it is never
    /// on duty in that time.
    pub fn next_on_duty(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.on_duty(from) {
            return Some(from);
        }
        // Duty can only begin where a shift starts or a day without a pattern begins, both at
        // a local wall-clock time; look at each in order.
        let start = from.with_timezone(&self.zone).date_naive();
        let mut candidates: Vec<DateTime<Utc>> = Vec::new();
        for day in 0..=14 {
            let Some(date) = start.checked_add_days(chrono::Days::new(day)) else {
                break;
            };
            let minutes: Vec<u16> = match self.shifts_on(date) {
                None => vec![0],
                Some(shifts) => shifts.iter().map(|s| s.start_min).collect(),
            };
            for minute in minutes {
                let Some(local) =
                    date.and_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)
                else {
                    continue;
                };
                // A start in a summer-time gap begins when the clocks have moved on.
                let instant = (0..=2).find_map(|h| {
                    (local + chrono::Duration::hours(h))
                        .and_local_timezone(self.zone)
                        .earliest()
                });
                if let Some(at) = instant.map(|t| t.with_timezone(&Utc))
                    && at > from
                {
                    candidates.push(at);
                }
            }
        }
        candidates.sort();
        candidates.into_iter().find(|at| self.on_duty(*at))
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

    /// The Red Cross branch in Volozhin: weekdays 8:30–13:00 and 14:00–17:30, Minsk time.
    fn volozhin_office() -> Schedule {
        let mut weekly = Vec::new();
        for day in 1..=5 {
            weekly.push(Shift {
                day,
                start_min: 8 * 60 + 30,
                end_min: 13 * 60,
            });
            weekly.push(Shift {
                day,
                start_min: 14 * 60,
                end_min: 17 * 60 + 30,
            });
        }
        Schedule {
            zone: zone("Europe/Minsk").unwrap(),
            weekly,
            exceptions: vec![],
        }
    }

    fn minsk(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        zone("Europe/Minsk")
            .unwrap()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_next_opening_is_after_lunch_the_next_morning_or_monday() {
        let office = volozhin_office();
        // Tuesday 1 December 2026.
        assert_eq!(
            office.next_on_duty(minsk(2026, 12, 1, 10, 0)),
            Some(minsk(2026, 12, 1, 10, 0))
        );
        assert_eq!(
            office.next_on_duty(minsk(2026, 12, 1, 13, 20)),
            Some(minsk(2026, 12, 1, 14, 0))
        );
        assert_eq!(
            office.next_on_duty(minsk(2026, 12, 1, 19, 45)),
            Some(minsk(2026, 12, 2, 8, 30))
        );
        // Friday evening waits for Monday.
        assert_eq!(
            office.next_on_duty(minsk(2026, 12, 4, 18, 0)),
            Some(minsk(2026, 12, 7, 8, 30))
        );
        // A holiday moves it a day further.
        let mut holiday = office.clone();
        holiday.exceptions.push(Exception {
            date: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
            off: true,
            shifts: vec![],
        });
        assert_eq!(
            holiday.next_on_duty(minsk(2026, 12, 4, 18, 0)),
            Some(minsk(2026, 12, 8, 8, 30))
        );
        let never = Schedule {
            weekly: vec![],
            exceptions: (0..20)
                .map(|d| Exception {
                    date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap() + chrono::Days::new(d),
                    off: true,
                    shifts: vec![],
                })
                .collect(),
            ..office
        };
        assert_eq!(never.next_on_duty(minsk(2026, 12, 1, 9, 0)), None);
    }

    proptest! {
        /// The next opening is on duty, and no whole minute before it (from the start) is.
        #[test]
        fn the_next_opening_is_the_first_minute_on_duty(
            shifts in proptest::collection::vec((1u8..=7, 0u16..1440, 0u16..1440), 1..4),
            start in 0i64..(14 * 24 * 60),
        ) {
            let s = Schedule {
                zone: zone("Europe/Minsk").unwrap(),
                weekly: shifts.iter().map(|(day, a, b)| Shift { day: *day, start_min: *a, end_min: *b }).collect(),
                exceptions: vec![],
            };
            let from = minsk(2026, 11, 30, 0, 0) + chrono::Duration::minutes(start);
            let next = s.next_on_duty(from);
            let scan = (0..(8 * 24 * 60))
                .map(|m| from + chrono::Duration::minutes(m))
                .find(|t| s.on_duty(*t));
            prop_assert_eq!(next, scan);
        }

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
