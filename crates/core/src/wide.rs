//! Wide searches: a critical search (a missing child, a person lost in frost) is offered to
//! several of the nearest eligible groups at once, not one after another. The first group to
//! accept leads; the others may still accept and support it. When a round's offers all end
//! unanswered, the next round offers more groups and reaches farther (each group's service
//! radius stretched), until the rounds run out and dispatchers take over.

use crate::{Category, Priority};

/// Which requests go wide, and how the rounds grow.
#[derive(Debug, Clone, PartialEq)]
pub struct WideSearch {
    /// How many groups the first round offers, per category and priority; requests not listed
    /// are offered to one group at a time.
    pub groups: Vec<(Category, Priority, u32)>,
    /// Rounds before the request goes to dispatchers.
    pub rounds: u32,
    /// How much farther each round reaches than the one before: every group's service radius
    /// is multiplied by this once per round after the first.
    pub widen_factor: f64,
}

/// One round of a wide search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Round {
    /// 1 for the first.
    pub number: u32,
    /// How many groups to offer at most (fewer when fewer are eligible).
    pub groups: usize,
    /// What each group's service radius is multiplied by.
    pub area_factor: f64,
}

impl Default for WideSearch {
    /// Searches for people: three groups at once when critical, two when high; two rounds,
    /// the second reaching twice as far.
    fn default() -> Self {
        Self {
            groups: vec![
                (Category::SearchOperation, Priority::Critical, 3),
                (Category::SearchOperation, Priority::High, 2),
            ],
            rounds: 2,
            widen_factor: 2.0,
        }
    }
}

impl WideSearch {
    /// How many groups the first round offers a request of this category and priority; None
    /// when it is offered to one group at a time.
    pub fn first_round(&self, category: Category, priority: Priority) -> Option<u32> {
        self.groups
            .iter()
            .find(|(c, p, _)| *c == category && *p == priority)
            .map(|(_, _, n)| *n)
            .filter(|n| *n > 1)
    }

    /// Round `number` (1-based) of a request whose first round offers `first` groups; None past
    /// the last round. Each round offers `first` more groups than the one before.
    pub fn round(&self, first: u32, number: u32) -> Option<Round> {
        if number == 0 || number > self.rounds.max(1) {
            return None;
        }
        Some(Round {
            number,
            groups: (first as usize).saturating_mul(number as usize),
            area_factor: self.reach(number),
        })
    }

    /// What each group's service radius is multiplied by in round `number` (1-based).
    pub fn reach(&self, number: u32) -> f64 {
        let exponent = i32::try_from(number.saturating_sub(1)).unwrap_or(i32::MAX);
        self.widen_factor.max(1.0).powi(exponent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn critical_searches_go_wide_and_other_requests_do_not() {
        let wide = WideSearch::default();
        assert_eq!(
            wide.first_round(Category::SearchOperation, Priority::Critical),
            Some(3)
        );
        assert_eq!(
            wide.first_round(Category::SearchOperation, Priority::High),
            Some(2)
        );
        assert_eq!(
            wide.first_round(Category::SearchOperation, Priority::Normal),
            None
        );
        assert_eq!(
            wide.first_round(Category::FuelDelivery, Priority::Critical),
            None
        );
        // One group "at once" is the ordinary ladder.
        let one = WideSearch {
            groups: vec![(Category::SearchOperation, Priority::Critical, 1)],
            ..WideSearch::default()
        };
        assert_eq!(
            one.first_round(Category::SearchOperation, Priority::Critical),
            None
        );
    }

    #[test]
    fn rounds_offer_more_groups_farther_out_then_stop() {
        let wide = WideSearch::default();
        assert_eq!(
            wide.round(3, 1),
            Some(Round {
                number: 1,
                groups: 3,
                area_factor: 1.0
            })
        );
        assert_eq!(
            wide.round(3, 2),
            Some(Round {
                number: 2,
                groups: 6,
                area_factor: 2.0
            })
        );
        assert_eq!(wide.round(3, 3), None);
        assert_eq!(wide.round(3, 0), None);
    }

    proptest! {
        #[test]
        fn every_round_reaches_at_least_as_far_and_as_many(
            first in 2u32..10, rounds in 1u32..6, factor in 0.5f64..4.0,
        ) {
            let wide = WideSearch { groups: vec![], rounds, widen_factor: factor };
            let mut last: Option<Round> = None;
            for n in 1..=rounds {
                let r = wide.round(first, n).unwrap();
                prop_assert!(r.area_factor >= 1.0);
                if let Some(l) = last {
                    prop_assert!(r.groups > l.groups);
                    prop_assert!(r.area_factor >= l.area_factor);
                }
                last = Some(r);
            }
            prop_assert!(wide.round(first, rounds + 1).is_none());
        }
    }
}
