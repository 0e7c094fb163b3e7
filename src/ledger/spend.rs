//! Spend per calendar day and month in a configured time zone, and its
//! projection to the end of the period.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Datelike, Days, LocalResult, Months, NaiveDate, TimeZone};
use chrono_tz::Tz;

use crate::config::BudgetPeriod;

/// How long spend must have been watched in the period before it is
/// projected, unless `ledger.min_projection_basis` sets another time. It
/// keeps one call in the first seconds from projecting a fortune.
pub const MIN_PROJECTION_BASIS: Duration = Duration::from_secs(15 * 60);

/// The spend of one series in its newest calendar day and month, by span end
/// time. A call of an older day or month than the newest one seen no longer
/// changes these; it still counts in the cost counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CalendarSpend {
    /// The day, and pico-USD spent in it.
    day: Option<(NaiveDate, u128)>,
    /// The first day of the month, and pico-USD spent in it.
    month: Option<(NaiveDate, u128)>,
}

impl CalendarSpend {
    /// Adds `picos` spent on `day`. Returns `false` when `day` is older than
    /// the newest day already seen, in which case the day's spend is not
    /// changed (and the month's only if the month is still current).
    pub fn add(&mut self, day: NaiveDate, picos: u128) -> bool {
        let day_counted = add_to_period(&mut self.day, day, picos);
        add_to_period(&mut self.month, first_of_month(day), picos);
        day_counted
    }

    /// Returns the pico-USD spent in the `period` that contains `today`.
    pub fn picos(&self, period: BudgetPeriod, today: NaiveDate) -> u128 {
        let (stored, current) = match period {
            BudgetPeriod::Day => (self.day, today),
            BudgetPeriod::Month => (self.month, first_of_month(today)),
        };
        match stored {
            Some((start, picos)) if start == current => picos,
            _ => 0,
        }
    }
}

fn add_to_period(slot: &mut Option<(NaiveDate, u128)>, start: NaiveDate, picos: u128) -> bool {
    match slot {
        Some((current, total)) if *current == start => {
            *total = total.saturating_add(picos);
            true
        }
        Some((current, _)) if *current > start => false,
        _ => {
            *slot = Some((start, picos));
            true
        }
    }
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// Returns the calendar day of `time` in `zone`.
pub fn local_day(time: SystemTime, zone: Tz) -> NaiveDate {
    DateTime::<chrono::Utc>::from(time)
        .with_timezone(&zone)
        .date_naive()
}

/// Returns when the `period` that contains `now` starts and ends, in `zone`.
pub fn period_bounds(period: BudgetPeriod, now: SystemTime, zone: Tz) -> (SystemTime, SystemTime) {
    let today = local_day(now, zone);
    let (first, next) = match period {
        BudgetPeriod::Day => (today, today.checked_add_days(Days::new(1))),
        BudgetPeriod::Month => {
            let first = first_of_month(today);
            (first, first.checked_add_months(Months::new(1)))
        }
    };
    let next = next.unwrap_or(first);
    (start_of_day(first, zone), start_of_day(next, zone))
}

/// Returns the first instant of `day` in `zone`. On a day that starts in a
/// daylight-saving gap, that is the first instant that exists.
fn start_of_day(day: NaiveDate, zone: Tz) -> SystemTime {
    let mut time = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..4 {
        match zone.from_local_datetime(&time) {
            LocalResult::Single(start) | LocalResult::Ambiguous(start, _) => {
                return start.with_timezone(&chrono::Utc).into();
            }
            LocalResult::None => time += chrono::Duration::minutes(30),
        }
    }
    zone.from_utc_datetime(&time)
        .with_timezone(&chrono::Utc)
        .into()
}

/// Projects `spent` to the end of the period that contains `now`, at the
/// average rate since the period started or since `watched_since`, whichever
/// is later. Returns `None` until `min_basis` has been watched.
pub fn project(
    spent: f64,
    period: BudgetPeriod,
    now: SystemTime,
    watched_since: SystemTime,
    zone: Tz,
    min_basis: Duration,
) -> Option<f64> {
    let (start, end) = period_bounds(period, now, zone);
    let basis = now.duration_since(start.max(watched_since)).ok()?;
    if basis < min_basis || basis.is_zero() {
        return None;
    }
    let left = end.duration_since(now).unwrap_or_default();
    Some(spent + spent * left.as_secs_f64() / basis.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: u128 = 1_000_000_000_000;

    fn utc(text: &str) -> SystemTime {
        DateTime::parse_from_rfc3339(text).unwrap().into()
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn local_day_follows_the_zone() {
        // (instant, zone, day)
        let cases = [
            ("2026-03-31T21:59:59Z", Tz::Europe__Berlin, "2026-03-31"),
            ("2026-03-31T22:00:00Z", Tz::Europe__Berlin, "2026-04-01"),
            ("2026-03-31T22:00:00Z", Tz::UTC, "2026-03-31"),
            ("2026-04-01T03:59:59Z", Tz::America__New_York, "2026-03-31"),
            ("2026-04-01T04:00:00Z", Tz::America__New_York, "2026-04-01"),
            ("2026-12-31T18:29:59Z", Tz::Asia__Kolkata, "2026-12-31"),
            ("2026-12-31T18:30:00Z", Tz::Asia__Kolkata, "2027-01-01"),
        ];
        for (instant, zone, expected) in cases {
            assert_eq!(
                local_day(utc(instant), zone),
                date(expected),
                "{instant} {zone}"
            );
        }
    }

    #[test]
    fn spend_rolls_over_at_local_midnight() {
        let zone = Tz::Europe__Berlin;
        let mut spend = CalendarSpend::default();
        // 23:30 and 23:59:59 in Berlin on 31 March, then 00:00 on 1 April.
        assert!(spend.add(local_day(utc("2026-03-31T21:30:00Z"), zone), 2 * USD));
        assert!(spend.add(local_day(utc("2026-03-31T21:59:59Z"), zone), 3 * USD));
        let march_31 = date("2026-03-31");
        assert_eq!(spend.picos(BudgetPeriod::Day, march_31), 5 * USD);
        assert_eq!(spend.picos(BudgetPeriod::Month, march_31), 5 * USD);

        assert!(spend.add(local_day(utc("2026-03-31T22:00:00Z"), zone), 7 * USD));
        let april_1 = date("2026-04-01");
        assert_eq!(spend.picos(BudgetPeriod::Day, april_1), 7 * USD);
        assert_eq!(spend.picos(BudgetPeriod::Month, april_1), 7 * USD);
        // The day before is no longer the current one.
        assert_eq!(spend.picos(BudgetPeriod::Day, march_31), 0);
        assert_eq!(spend.picos(BudgetPeriod::Month, march_31), 0);

        // A late call of 31 March changes neither period of 1 April.
        assert!(!spend.add(march_31, 11 * USD));
        assert_eq!(spend.picos(BudgetPeriod::Day, april_1), 7 * USD);
        assert_eq!(spend.picos(BudgetPeriod::Month, april_1), 7 * USD);
    }

    #[test]
    fn late_day_counts_in_month() {
        let mut spend = CalendarSpend::default();
        assert!(spend.add(date("2026-04-02"), USD));
        assert!(!spend.add(date("2026-04-01"), 2 * USD));
        assert_eq!(spend.picos(BudgetPeriod::Day, date("2026-04-02")), USD);
        assert_eq!(
            spend.picos(BudgetPeriod::Month, date("2026-04-02")),
            3 * USD
        );
        // A day with no calls yet reads zero.
        assert_eq!(spend.picos(BudgetPeriod::Day, date("2026-04-03")), 0);
        assert_eq!(
            spend.picos(BudgetPeriod::Month, date("2026-04-30")),
            3 * USD
        );
    }

    #[test]
    fn period_bounds_in_zones() {
        // (now, zone, period, start, end)
        let cases = [
            (
                "2026-04-15T12:00:00Z",
                Tz::UTC,
                BudgetPeriod::Month,
                "2026-04-01T00:00:00Z",
                "2026-05-01T00:00:00Z",
            ),
            (
                "2026-04-15T12:00:00Z",
                Tz::Europe__Berlin,
                BudgetPeriod::Day,
                "2026-04-14T22:00:00Z",
                "2026-04-15T22:00:00Z",
            ),
            // The day that summer time starts in Berlin has 23 hours.
            (
                "2026-03-29T12:00:00Z",
                Tz::Europe__Berlin,
                BudgetPeriod::Day,
                "2026-03-28T23:00:00Z",
                "2026-03-29T22:00:00Z",
            ),
            (
                "2026-12-31T20:00:00Z",
                Tz::Asia__Kolkata,
                BudgetPeriod::Month,
                "2026-12-31T18:30:00Z",
                "2027-01-31T18:30:00Z",
            ),
            // Midnight does not exist in Santiago when summer time starts.
            (
                "2026-09-06T12:00:00Z",
                Tz::America__Santiago,
                BudgetPeriod::Day,
                "2026-09-06T04:00:00Z",
                "2026-09-07T03:00:00Z",
            ),
        ];
        for (now, zone, period, start, end) in cases {
            let bounds = period_bounds(period, utc(now), zone);
            assert_eq!(bounds, (utc(start), utc(end)), "{now} {zone} {period:?}");
        }
    }

    #[test]
    fn projection_extrapolates_the_average_rate() {
        let zone = Tz::UTC;
        let now = utc("2026-04-11T00:00:00Z");
        // 10 of 30 days gone, 100 USD spent: 300 USD by the end of April.
        let month_start = utc("2026-04-01T00:00:00Z");
        let projected = project(
            100.0,
            BudgetPeriod::Month,
            now,
            month_start,
            zone,
            MIN_PROJECTION_BASIS,
        );
        assert_eq!(projected, Some(300.0));

        // Watched only for the last 5 of those days: the rate is 20 USD a day
        // over the 20 days left.
        let watched = utc("2026-04-06T00:00:00Z");
        let projected = project(
            100.0,
            BudgetPeriod::Month,
            now,
            watched,
            zone,
            MIN_PROJECTION_BASIS,
        );
        assert_eq!(projected, Some(500.0));

        // Too short a basis projects nothing.
        let recent = utc("2026-04-10T23:50:00Z");
        assert_eq!(
            project(
                1.0,
                BudgetPeriod::Month,
                now,
                recent,
                zone,
                MIN_PROJECTION_BASIS
            ),
            None
        );
        let day_start = utc("2026-04-11T00:00:00Z");
        assert_eq!(
            project(
                1.0,
                BudgetPeriod::Day,
                now,
                day_start,
                zone,
                MIN_PROJECTION_BASIS
            ),
            None
        );

        // Six hours into the day: four times the spend.
        let noon = utc("2026-04-11T06:00:00Z");
        assert_eq!(
            project(
                3.0,
                BudgetPeriod::Day,
                noon,
                day_start,
                zone,
                MIN_PROJECTION_BASIS
            ),
            Some(12.0)
        );
    }
}
