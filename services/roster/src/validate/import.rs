//! Roster import from the spreadsheets organisations keep: a CSV with a header row, one row per
//! group, or per group member (the group's columns repeated, with the volunteer's name).
//!
//! Columns, in any order: `group`, `lat`, `lon`, `skills`, `capacity` (required), and
//! `settlement`, `district`, `region`, `radius_km`, `languages`, `volunteer`,
//! `volunteer_languages`. `skills` and the language columns are `;`-separated slugs
//! (`vehicle_cargo:5;first_aid`, payload tonnes after a colon; `kk;ru`). A group is known by its
//! name within the organisation: an existing one is updated, a new one created. Every row is
//! checked first and errors are reported by line and column; any error and nothing changes.

use std::collections::HashMap;

use komek_runtime::boundary::Text;

use crate::model::{GroupRows, ImportedVolunteer};
use komek_core::{Language, Skill};
use komek_proto::roster::v1 as api;
use komek_proto::types::v1 as pb;

/// The most data rows one import takes.
pub const MAX_ROWS: usize = 5000;

const KNOWN: &[&str] = &[
    "group",
    "lat",
    "lon",
    "skills",
    "capacity",
    "settlement",
    "district",
    "region",
    "radius_km",
    "languages",
    "volunteer",
    "volunteer_languages",
];
const REQUIRED: &[&str] = &["group", "lat", "lon", "skills", "capacity"];

/// A CSV record with the line it starts on.
pub type Record = (usize, Vec<String>);

/// Splits CSV text into records (RFC 4180: quoted fields, doubled quotes, CRLF or LF), with the
/// line each record starts on.
pub fn records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start_line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                if !(record.len() == 1 && record[0].trim().is_empty()) {
                    out.push((start_line, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                start_line = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err((start_line, "a quoted field is not closed".into()));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        out.push((start_line, record));
    }
    Ok(out)
}

/// Which CSV column a field violation of a group belongs to.
fn column_of(field: &str) -> &'static str {
    let f = field.strip_prefix("group.").unwrap_or(field);
    match f.split(['.', '[']).next().unwrap_or("") {
        "display_name" => "group",
        "base_location" => "lat",
        "settlement" => "settlement",
        "district" => "district",
        "region" => "region",
        "service_area" => "radius_km",
        "skills" => "skills",
        "languages" => "languages",
        "capacity" => "capacity",
        _ => "group",
    }
}

fn parse_languages(value: &str) -> Result<Vec<i32>, String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Language::from_slug(s)
                .map(|l| l.code())
                .ok_or_else(|| format!("unknown language {s:?}; use kk, ru or en"))
        })
        .collect()
}

fn parse_skills(value: &str) -> Result<Vec<pb::GroupSkill>, String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (slug, payload) = s.split_once(':').unwrap_or((s, ""));
            let skill =
                Skill::from_slug(slug.trim()).ok_or_else(|| format!("unknown skill {slug:?}"))?;
            let payload_tonnes = if payload.trim().is_empty() {
                0.0
            } else {
                payload
                    .trim()
                    .parse()
                    .map_err(|_| format!("payload of {slug} is not a number of tonnes"))?
            };
            Ok(pb::GroupSkill {
                skill: skill.code(),
                certified_until: None,
                payload_tonnes,
            })
        })
        .collect()
}

/// Reads and checks the whole file. Each group is held to exactly the checks of CreateGroup.
pub fn read(csv: &[u8], organization: &str) -> Result<Vec<GroupRows>, Vec<api::ImportRowError>> {
    let error = |line: usize, column: &str, message: String| api::ImportRowError {
        line: line as i32,
        column: column.to_string(),
        message,
    };
    let text =
        std::str::from_utf8(csv).map_err(|e| vec![error(1, "", format!("not UTF-8: {e}"))])?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rows = records(text).map_err(|(line, m)| vec![error(line, "", m)])?;
    let Some(((_, header), data)) = rows.split_first() else {
        return Err(vec![error(1, "", "empty file".into())]);
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    let mut errors = Vec::new();
    for h in &header {
        if !KNOWN.contains(&h.as_str()) {
            errors.push(error(
                1,
                h,
                format!("unknown column; known: {}", KNOWN.join(", ")),
            ));
        }
    }
    for r in REQUIRED {
        if !header.iter().any(|h| h == r) {
            errors.push(error(1, r, "required column missing".into()));
        }
    }
    if data.len() > MAX_ROWS {
        errors.push(error(1, "", format!("at most {MAX_ROWS} rows per import")));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let col = |record: &[String], name: &str| -> String {
        header
            .iter()
            .position(|h| h == name)
            .and_then(|i| record.get(i))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };

    let mut groups: Vec<GroupRows> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (line, record) in data {
        let line = *line;
        if record.len() != header.len() {
            errors.push(error(
                line,
                "",
                format!("{} fields; the header has {}", record.len(), header.len()),
            ));
            continue;
        }
        let mut row_errors = Vec::new();
        let number = |name: &str, row_errors: &mut Vec<api::ImportRowError>| -> f64 {
            let v = col(record, name);
            if v.is_empty() && name == "radius_km" {
                return 0.0;
            }
            v.replace(',', ".").parse().unwrap_or_else(|_| {
                row_errors.push(error(line, name, format!("{v:?} is not a number")));
                0.0
            })
        };
        let lat = number("lat", &mut row_errors);
        let lon = number("lon", &mut row_errors);
        let radius_km = number("radius_km", &mut row_errors);
        let capacity = col(record, "capacity").parse::<i32>().unwrap_or_else(|_| {
            row_errors.push(error(line, "capacity", "a whole number of jobs".into()));
            0
        });
        let skills = parse_skills(&col(record, "skills")).unwrap_or_else(|m| {
            row_errors.push(error(line, "skills", m));
            vec![]
        });
        let languages = parse_languages(&col(record, "languages")).unwrap_or_else(|m| {
            row_errors.push(error(line, "languages", m));
            vec![]
        });
        let group = api::Group {
            organization: organization.to_string(),
            display_name: col(record, "group"),
            base_location: Some(pb::LatLng {
                latitude: lat,
                longitude: lon,
            }),
            settlement: col(record, "settlement"),
            district: col(record, "district"),
            region: col(record, "region"),
            service_area: Some(pb::ServiceArea {
                radius_km,
                districts: vec![],
            }),
            skills,
            languages,
            capacity,
            ..Default::default()
        };
        if row_errors.is_empty() {
            match super::group(&group) {
                Ok(new_group) => {
                    let key = group.display_name.to_lowercase();
                    match by_name.get(&key) {
                        Some(i) if groups[*i].api != group => row_errors.push(error(
                            line,
                            "group",
                            format!(
                                "{:?} is described differently on line {}",
                                group.display_name, groups[*i].line
                            ),
                        )),
                        Some(_) => {}
                        None => {
                            by_name.insert(key, groups.len());
                            groups.push(GroupRows {
                                line,
                                group: new_group,
                                api: group.clone(),
                                volunteers: vec![],
                            });
                        }
                    }
                }
                Err(violations) => row_errors.extend(
                    violations
                        .into_iter()
                        .map(|v| error(line, column_of(&v.field), v.description)),
                ),
            }
        }
        let volunteer = col(record, "volunteer");
        let volunteer_languages = parse_languages(&col(record, "volunteer_languages"))
            .unwrap_or_else(|m| {
                row_errors.push(error(line, "volunteer_languages", m));
                vec![]
            });
        let volunteer = match Text::line(200).parse(&volunteer, "volunteer") {
            Ok(name) => name,
            Err(v) => {
                row_errors.push(error(line, "volunteer", v.description));
                String::new()
            }
        };
        if row_errors.is_empty() && !volunteer.is_empty() {
            let g = by_name[&group.display_name.to_lowercase()];
            groups[g].volunteers.push(ImportedVolunteer {
                display_name: volunteer,
                languages: volunteer_languages.iter().map(|l| *l as i16).collect(),
            });
        }
        errors.extend(row_errors);
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_handle_quotes_commas_and_crlf() {
        let r =
            records("a,b\r\n\"Shelek, east\",\"say \"\"hi\"\"\"\n\nx,\"multi\nline\"\n").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[1],
            (
                2,
                vec!["Shelek, east".to_string(), "say \"hi\"".to_string()]
            )
        );
        assert_eq!(
            r[2].0, 4,
            "blank lines are skipped; the record starts on line 4"
        );
        assert_eq!(r[2].1[1], "multi\nline");
        assert!(records("a,\"open\n").is_err());
    }

    #[test]
    fn skills_and_languages_read_slugs() {
        let s = parse_skills("vehicle_cargo:5; first_aid").unwrap();
        assert_eq!(s[0].payload_tonnes, 5.0);
        assert_eq!(s[1].skill, Skill::FirstAid.code());
        assert!(parse_skills("juggling").is_err());
        assert_eq!(parse_languages("kk;ru").unwrap().len(), 2);
        assert!(parse_languages("de").is_err());
    }
}
