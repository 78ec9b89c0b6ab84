//! Closed vocabularies of the domain. Their numeric codes are the protobuf enum values, so a
//! conversion at the boundary is a table lookup and the database stores the same small integers.

macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal, $slug:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The protobuf enum number; zero (UNSPECIFIED) is never a domain value.
            pub const fn code(self) -> i32 {
                match self { $($name::$variant => $code,)+ }
            }

            /// The value with this protobuf enum number, or `None` for zero and unknown numbers.
            pub const fn from_code(code: i32) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }

            /// Lower-case stable name, used in logs, rule files and configuration.
            pub const fn slug(self) -> &'static str {
                match self { $($name::$variant => $slug,)+ }
            }

            /// The value with this slug.
            pub fn from_slug(slug: &str) -> Option<Self> {
                match slug { $($slug => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.slug())
            }
        }
    };
}

coded_enum! {
    /// How a completed job ended for the people who asked.
    Outcome {
        Helped = 1, "helped";
        PartiallyHelped = 2, "partially_helped";
        NoLongerNeeded = 3, "no_longer_needed";
        PersonFound = 4, "person_found";
        PersonNotFound = 5, "person_not_found";
        Referred = 6, "referred";
        CallerUnreachable = 7, "caller_unreachable";
    }
}

impl Outcome {
    /// Help was given: partners' statistics count the people of such requests as helped.
    pub const fn counts_as_help(self) -> bool {
        matches!(
            self,
            Self::Helped | Self::PartiallyHelped | Self::PersonFound
        )
    }

    /// The codes of outcomes that count as help, as the database stores them.
    pub fn help_codes() -> Vec<i16> {
        Self::ALL
            .iter()
            .filter(|o| o.counts_as_help())
            .map(|o| o.code() as i16)
            .collect()
    }
}

coded_enum! {
    /// What kind of help a request asks for.
    Category {
        VeteranAid = 1, "veteran_aid";
        FuelDelivery = 2, "fuel_delivery";
        SearchOperation = 3, "search_operation";
        PsychologicalSupport = 4, "psychological_support";
        MaterialAid = 5, "material_aid";
        EmergencyHq = 6, "emergency_hq";
        Consultation = 7, "consultation";
        Other = 8, "other";
    }
}

coded_enum! {
    /// How urgently a request must be served; ordered from least to most urgent.
    Priority {
        Low = 1, "low";
        Normal = 2, "normal";
        High = 3, "high";
        Critical = 4, "critical";
    }
}

coded_enum! {
    /// What a volunteer group is able to do.
    Skill {
        SearchRescue = 1, "search_rescue";
        FirstAid = 2, "first_aid";
        VehicleCargo = 3, "vehicle_cargo";
        Psychologist = 4, "psychologist";
        SocialCare = 5, "social_care";
        Medical = 6, "medical";
        LegalAdvice = 7, "legal_advice";
        GeneralLabour = 8, "general_labour";
        DroneOperator = 9, "drone_operator";
        DogHandler = 10, "dog_handler";
    }
}

coded_enum! {
    /// Languages the hotlines work in.
    Language {
        Kazakh = 1, "kk";
        Russian = 2, "ru";
        English = 3, "en";
    }
}

coded_enum! {
    /// Where a request came from.
    Channel {
        Hotline = 1, "hotline";
        Partner = 2, "partner";
        App = 3, "app";
        /// Made by a recurring plan on its schedule.
        Plan = 4, "plan";
    }
}

coded_enum! {
    /// Whether a group can take work right now.
    Availability {
        Available = 1, "available";
        Busy = 2, "busy";
        OffDuty = 3, "off_duty";
    }
}

coded_enum! {
    /// Why a group was not chosen for a request.
    IneligibleReason {
        OutsideServiceArea = 1, "outside_service_area";
        NotAvailable = 2, "not_available";
        NoCapacity = 3, "no_capacity";
        MissingSkill = 4, "missing_skill";
        CertificationExpired = 5, "certification_expired";
        OffShift = 6, "off_shift";
        StaleLocation = 7, "stale_location";
        AlreadyDeclined = 8, "already_declined";
        Resting = 9, "resting";
        NotNearest = 10, "not_nearest";
        NoLocation = 11, "no_location";
        NoGroups = 12, "no_groups";
        InsufficientPayload = 13, "insufficient_payload";
        Unclassified = 14, "unclassified";
        NothingToSend = 15, "nothing_to_send";
        /// The group's organisation is closed (its office hours) and the request is not
        /// urgent enough to call it anyway.
        OfficeClosed = 16, "office_closed";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_slugs_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::from_code(c.code()), Some(*c));
            assert_eq!(Category::from_slug(c.slug()), Some(*c));
        }
        for s in Skill::ALL {
            assert_eq!(Skill::from_code(s.code()), Some(*s));
            assert_eq!(Skill::from_slug(s.slug()), Some(*s));
        }
        assert_eq!(
            Category::from_code(0),
            None,
            "zero is UNSPECIFIED, never a domain value"
        );
        assert_eq!(Priority::from_code(99), None);
    }

    #[test]
    fn priorities_order_by_urgency() {
        assert!(Priority::Critical > Priority::High);
        assert!(Priority::High > Priority::Normal);
        assert!(Priority::Normal > Priority::Low);
    }
}
