//! When a recurring plan's requests fall due: "every month from November to March on the 1st
//! at 10:00", "every Tuesday at 11:00". Times are wall-clock times in the line's IANA zone, so
//! an occurrence keeps its hour through any change of offset; dates are the zone's dates.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// How often a plan repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frequency {
    /// Every `every` weeks (counted from the start date's week), on these days.
    Weekly { every: u32, days: Vec<Weekday> },
    /// Every `every` months (counted from the start date's month), on this day of the month;
    /// a day the month does not have (the 31st in November) falls on its last day.
    Monthly { every: u32, day: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recurrence {
    pub zone: Tz,
    pub frequency: Frequency,
    pub time: NaiveTime,
    /// The first date an occurrence may fall on.
    pub start: NaiveDate,
    /// The last date an occurrence may fall on, if any.
    pub end: Option<NaiveDate>,
    /// The season: months (1–12) occurrences may fall in; empty: every month.
    pub months: Vec<u32>,
}

/// How far ahead occurrences are looked for: beyond it a plan is taken to have ended.
const HORIZON_DAYS: u64 = 3 * 366;

fn last_day_of_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1).expect("a valid month");
    let next = first + Months::new(1);
    (next - Days::new(1)).day()
}

impl Recurrence {
    fn in_season(&self, date: NaiveDate) -> bool {
        self.months.is_empty() || self.months.contains(&date.month())
    }

    fn falls_on(&self, date: NaiveDate) -> bool {
        if date < self.start || self.end.is_some_and(|end| date > end) || !self.in_season(date) {
            return false;
        }
        match &self.frequency {
            Frequency::Weekly { every, days } => {
                let week =
                    |d: NaiveDate| d - Days::new(u64::from(d.weekday().num_days_from_monday()));
                let weeks = (week(date) - week(self.start)).num_weeks();
                days.contains(&date.weekday()) && weeks % i64::from((*every).max(1)) == 0
            }
            Frequency::Monthly { every, day } => {
                let months = (date.year() - self.start.year()) * 12 + date.month() as i32
                    - self.start.month() as i32;
                let on = (*day)
                    .clamp(1, 31)
                    .min(last_day_of_month(date.year(), date.month()));
                months % (*every).max(1) as i32 == 0 && date.day() == on
            }
        }
    }

    /// The instant of the occurrence on `date`: its wall-clock time in the zone, or, where a
    /// change of offset skips that time, the first moment after the gap.
    fn at(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let local = date.and_time(self.time);
        (0..=3).find_map(|h| {
            self.zone
                .from_local_datetime(&(local + chrono::Duration::minutes(30 * h)))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        })
    }

    /// The first occurrence strictly after `after`, or `None` when there is none within three
    /// years (the plan has ended).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = after.with_timezone(&self.zone).date_naive().max(self.start);
        (0..HORIZON_DAYS)
            .filter_map(|d| from.checked_add_days(Days::new(d)))
            .take_while(|d| self.end.is_none_or(|end| *d <= end))
            .filter(|d| self.falls_on(*d))
            .filter_map(|d| self.at(d))
            .find(|at| *at > after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use proptest::prelude::*;

    fn almaty() -> Tz {
        chrono_tz::Asia::Almaty
    }

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        almaty()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Coal for Kegen's pensioners: every month from November to March, on the 1st at 10:00.
    fn coal_season() -> Recurrence {
        Recurrence {
            zone: almaty(),
            frequency: Frequency::Monthly { every: 1, day: 1 },
            time: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            start: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            end: None,
            months: vec![11, 12, 1, 2, 3],
        }
    }

    #[test]
    fn a_monthly_season_runs_november_to_march_across_the_year_end() {
        let r = coal_season();
        let mut at = local(2026, 10, 15, 0, 0);
        let mut seen = Vec::new();
        for _ in 0..6 {
            at = r.next_after(at).unwrap();
            seen.push(at);
        }
        assert_eq!(
            seen,
            [
                local(2026, 11, 1, 10, 0),
                local(2026, 12, 1, 10, 0),
                local(2027, 1, 1, 10, 0),
                local(2027, 2, 1, 10, 0),
                local(2027, 3, 1, 10, 0),
                // April to October are out of season.
                local(2027, 11, 1, 10, 0),
            ]
        );
        // An occurrence is strictly after: asking at 10:00 on the 1st gives the next month.
        assert_eq!(
            r.next_after(local(2026, 12, 1, 10, 0)),
            Some(local(2027, 1, 1, 10, 0))
        );
    }

    #[test]
    fn the_31st_falls_on_the_last_day_of_shorter_months() {
        let r = Recurrence {
            frequency: Frequency::Monthly { every: 1, day: 31 },
            months: vec![],
            start: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
            ..coal_season()
        };
        let jan = r.next_after(local(2027, 1, 1, 0, 0)).unwrap();
        let feb = r.next_after(jan).unwrap();
        let mar = r.next_after(feb).unwrap();
        let apr = r.next_after(mar).unwrap();
        assert_eq!(
            [jan, feb, mar, apr],
            [
                local(2027, 1, 31, 10, 0),
                local(2027, 2, 28, 10, 0),
                local(2027, 3, 31, 10, 0),
                local(2027, 4, 30, 10, 0),
            ]
        );
    }

    #[test]
    fn a_weekly_visit_every_other_tuesday_and_a_plan_that_ended() {
        let r = Recurrence {
            frequency: Frequency::Weekly {
                every: 2,
                days: vec![Weekday::Tue],
            },
            months: vec![],
            // A Monday.
            start: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            end: Some(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()),
            ..coal_season()
        };
        let first = r.next_after(local(2026, 11, 29, 0, 0)).unwrap();
        assert_eq!(first, local(2026, 12, 1, 10, 0));
        assert_eq!(r.next_after(first), Some(local(2026, 12, 15, 10, 0)));
        assert_eq!(
            r.next_after(local(2026, 12, 15, 10, 0)),
            Some(local(2026, 12, 29, 10, 0))
        );
        assert_eq!(r.next_after(local(2026, 12, 29, 10, 0)), None, "ended");
    }

    #[test]
    fn a_zone_with_summer_time_keeps_the_wall_clock_hour() {
        // Berlin moves its clocks on 28 March 2027; 10:00 stays 10:00 local.
        let r = Recurrence {
            zone: chrono_tz::Europe::Berlin,
            frequency: Frequency::Weekly {
                every: 1,
                days: vec![Weekday::Sun],
            },
            months: vec![],
            ..coal_season()
        };
        let berlin = |d| {
            chrono_tz::Europe::Berlin
                .with_ymd_and_hms(2027, 3, d, 10, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let before = r.next_after(berlin(20)).unwrap();
        assert_eq!(before, berlin(21));
        assert_eq!(r.next_after(before), Some(berlin(28)));
        assert_eq!((berlin(28) - berlin(21)).num_hours(), 7 * 24 - 1);
    }

    proptest! {
        /// Occurrences come in order, each on a day the plan names, in season, at its hour.
        #[test]
        fn occurrences_increase_and_fall_where_the_plan_says(
            day in 1u32..=31,
            every in 1u32..=3,
            start_offset in 0u64..400,
            months in proptest::collection::vec(1u32..=12, 0..5),
            ask in 0i64..(400 * 24 * 60),
        ) {
            let r = Recurrence {
                frequency: Frequency::Monthly { every, day },
                start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(start_offset),
                months: months.clone(),
                ..coal_season()
            };
            let after = local(2026, 1, 1, 0, 0) + chrono::Duration::minutes(ask);
            if let Some(next) = r.next_after(after) {
                prop_assert!(next > after);
                let l = next.with_timezone(&almaty());
                prop_assert_eq!((l.hour(), l.minute()), (10, 0));
                prop_assert!(months.is_empty() || months.contains(&l.month()));
                prop_assert!(l.date_naive() >= r.start);
                prop_assert!(l.day() == day.min(last_day_of_month(l.year(), l.month())));
                // No day between them holds an occurrence after `after`.
                let mut d = after.with_timezone(&almaty()).date_naive();
                while d < l.date_naive() {
                    let missed = r.falls_on(d) && r.at(d).is_some_and(|t| t > after);
                    prop_assert!(!missed, "{d} was skipped");
                    d = d + Days::new(1);
                }
                if let Some(following) = r.next_after(next) {
                    prop_assert!(following > next);
                }
            }
        }
    }
}
