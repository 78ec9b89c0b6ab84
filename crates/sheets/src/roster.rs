//! The columns of a roster file, known by the header people give them in kk, ru or en.
//! Organisations keep their lists with headers such as "Широта", "Елді мекен" or "Radius, km";
//! each names one column whatever its case, `ё`, spaces or punctuation.

/// A column ImportRoster reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Group,
    Lat,
    Lon,
    Skills,
    Capacity,
    Settlement,
    District,
    Region,
    RadiusKm,
    Languages,
    Volunteer,
    VolunteerLanguages,
}

impl Column {
    pub const ALL: [Column; 12] = [
        Column::Group,
        Column::Lat,
        Column::Lon,
        Column::Skills,
        Column::Capacity,
        Column::Settlement,
        Column::District,
        Column::Region,
        Column::RadiusKm,
        Column::Languages,
        Column::Volunteer,
        Column::VolunteerLanguages,
    ];

    /// The column's English key, which is also its header in Komek's own template.
    pub fn key(self) -> &'static str {
        match self {
            Column::RadiusKm => "radius_km",
            Column::VolunteerLanguages => "volunteer_languages",
            other => other.names()[0],
        }
    }

    /// Whether a file without the column is refused.
    pub fn required(self) -> bool {
        matches!(
            self,
            Column::Group | Column::Lat | Column::Lon | Column::Skills | Column::Capacity
        )
    }

    /// Headers that name the column, folded (see [`fold`]); the key's folded form first.
    fn names(self) -> &'static [&'static str] {
        match self {
            Column::Group => &[
                "group",
                "group name",
                "team",
                "группа",
                "название группы",
                "команда",
                "топ",
                "топ атауы",
                "топтың атауы",
            ],
            Column::Lat => &["lat", "latitude", "широта", "ендік"],
            Column::Lon => &["lon", "lng", "long", "longitude", "долгота", "бойлық"],
            Column::Skills => &["skills", "навыки", "умения", "дағдылар", "біліктер"],
            Column::Capacity => &[
                "capacity",
                "вместимость",
                "одновременных заявок",
                "сыйымдылық",
            ],
            Column::Settlement => &[
                "settlement",
                "village",
                "town",
                "населенный пункт",
                "нас пункт",
                "село",
                "город",
                "елді мекен",
                "ауыл",
            ],
            Column::District => &["district", "район", "аудан"],
            Column::Region => &["region", "oblast", "область", "регион", "облыс", "өңір"],
            Column::RadiusKm => &[
                "radius km",
                "radius",
                "радиус км",
                "радиус",
                "радиус выезда км",
                "радиус выезда",
            ],
            Column::Languages => &["languages", "языки", "язык", "тілдер", "тіл"],
            Column::Volunteer => &[
                "volunteer",
                "member",
                "волонтер",
                "фио волонтера",
                "участник",
                "ерікті",
                "еріктінің аты жөні",
            ],
            Column::VolunteerLanguages => &[
                "volunteer languages",
                "языки волонтера",
                "еріктінің тілдері",
                "ерікті тілдері",
            ],
        }
    }

    /// The column a header names, if any.
    pub fn from_header(header: &str) -> Option<Column> {
        let folded = fold(header);
        Column::ALL
            .into_iter()
            .find(|c| c.names().contains(&folded.as_str()))
    }
}

/// Which sheet of a file holds the roster: the first whose header names every required column,
/// else the first with any rows (whose header is then the one to report on).
pub fn sheet(sheets: &[crate::Sheet]) -> Option<usize> {
    let complete = |sheet: &crate::Sheet| {
        sheet.rows.first().is_some_and(|header| {
            Column::ALL.iter().filter(|c| c.required()).all(|c| {
                header
                    .cells
                    .iter()
                    .any(|h| Column::from_header(h) == Some(*c))
            })
        })
    };
    sheets
        .iter()
        .position(complete)
        .or_else(|| sheets.iter().position(|s| !s.rows.is_empty()))
}

/// A header as compared: lower case, `ё` as `е`, every run of anything but letters and digits
/// one space, no space at either end ("Радиус, км" and "radius_km" become "радиус км" and
/// "radius km").
pub fn fold(header: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in header.trim_start_matches('\u{feff}').chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase().map(|c| if c == 'ё' { 'е' } else { c }));
        } else {
            gap = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_three_languages_name_one_column() {
        for (header, column) in [
            ("lat", Column::Lat),
            ("Широта", Column::Lat),
            ("ендік", Column::Lat),
            ("Радиус, км", Column::RadiusKm),
            ("radius_km", Column::RadiusKm),
            ("Елді мекен", Column::Settlement),
            ("Населённый пункт", Column::Settlement),
            ("ФИО волонтёра", Column::Volunteer),
            ("volunteer_languages", Column::VolunteerLanguages),
            ("  Облыс ", Column::Region),
        ] {
            assert_eq!(Column::from_header(header), Some(column), "{header}");
        }
        assert_eq!(Column::from_header("телефон"), None);
    }

    #[test]
    fn every_key_is_its_own_header_and_no_header_names_two_columns() {
        let mut seen = std::collections::HashSet::new();
        for c in Column::ALL {
            assert_eq!(Column::from_header(c.key()), Some(c));
            for name in c.names() {
                assert_eq!(fold(name), *name, "aliases are written folded");
                assert!(seen.insert(*name), "{name} names two columns");
            }
        }
    }
}
