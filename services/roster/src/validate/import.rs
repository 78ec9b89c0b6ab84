//! Roster import from the files organisations keep: one row per group, or per group member (the
//! group's columns repeated, with the volunteer's name), under a header row. The file is a CSV
//! as any spreadsheet saves it or a workbook (`komek_sheets` reads both); in a workbook, the
//! first sheet whose header names the required columns.
//!
//! Columns, in any order, under a header in kk, ru or en (`komek_sheets::roster`): `group`,
//! `lat`, `lon`, `skills`, `capacity` (required), and `settlement`, `district`, `region`,
//! `radius_km`, `languages`, `volunteer`, `volunteer_languages`. Skills are slugs or their
//! names in any of the three languages, languages `kk`, `ru`, `en` or their names, separated by
//! `;`, `,` or new lines (`vehicle_cargo:5; Первая помощь`, payload tonnes after a colon). A
//! group is known by its name within the organisation: an existing one is updated, a new one
//! created. Every row is checked first and errors are reported by line and by the column as its
//! header is written; any error and nothing changes.

use std::collections::HashMap;

use komek_runtime::boundary::Text;
use komek_sheets::roster::{Column, fold};
use komek_sheets::{Format, Row, Workbook};

use crate::model::{GroupRows, ImportedVolunteer};
use komek_core::{Language, Skill};
use komek_i18n::Lang;
use komek_proto::roster::v1 as api;
use komek_proto::types::v1 as pb;

/// The most data rows one import takes.
pub const MAX_ROWS: usize = 5000;

fn error(line: usize, column: &str, message: String) -> api::ImportRowError {
    api::ImportRowError {
        line: line as i32,
        column: column.to_string(),
        message,
    }
}

/// The table to import (`komek_sheets::roster::sheet`) and how the file was read.
fn table(workbook: Workbook) -> Result<(Vec<Row>, api::RosterFile), Vec<api::ImportRowError>> {
    let mut sheets = workbook.sheets;
    let chosen = komek_sheets::roster::sheet(&sheets)
        .ok_or_else(|| vec![error(1, "", "the file has no rows".into())])?;
    let sheet = sheets.swap_remove(chosen);
    let (format, encoding, delimiter) = match workbook.format {
        Format::Csv {
            delimiter,
            encoding,
        } => (
            api::RosterFileFormat::Csv,
            encoding.to_string(),
            (delimiter as char).to_string(),
        ),
        Format::Xlsx => (api::RosterFileFormat::Xlsx, String::new(), String::new()),
        Format::Xls => (api::RosterFileFormat::Xls, String::new(), String::new()),
        Format::Ods => (api::RosterFileFormat::Ods, String::new(), String::new()),
    };
    let file = api::RosterFile {
        format: format as i32,
        encoding,
        delimiter,
        sheet: sheet.name,
        rows: sheet.rows.len().saturating_sub(1) as i32,
    };
    Ok((sheet.rows, file))
}

/// Which column a field violation of a group belongs to.
fn column_of(field: &str) -> Column {
    let f = field.strip_prefix("group.").unwrap_or(field);
    match f.split(['.', '[']).next().unwrap_or("") {
        "base_location" => Column::Lat,
        "settlement" => Column::Settlement,
        "district" => Column::District,
        "region" => Column::Region,
        "service_area" => Column::RadiusKm,
        "skills" => Column::Skills,
        "languages" => Column::Languages,
        "capacity" => Column::Capacity,
        _ => Column::Group,
    }
}

fn items(value: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = value.char_indices().collect();
    let mut out = Vec::new();
    let mut from = 0;
    for (i, &(at, c)) in chars.iter().enumerate() {
        let decimal = c == ','
            && i > 0
            && chars[i - 1].1.is_ascii_digit()
            && chars.get(i + 1).is_some_and(|(_, n)| n.is_ascii_digit());
        if matches!(c, ';' | '\n' | '\r') || (c == ',' && !decimal) {
            out.push(&value[from..at]);
            from = at + c.len_utf8();
        }
    }
    out.push(&value[from..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `text` names the enum value `proto_name` in any of the three languages.
fn labelled(text: &str, proto_name: &str) -> bool {
    let folded = fold(text);
    [Lang::Kk, Lang::Ru, Lang::En]
        .into_iter()
        .any(|lang| fold(&komek_i18n::enum_label(lang, proto_name)) == folded)
}

fn parse_languages(value: &str) -> Result<Vec<i32>, String> {
    items(value)
        .into_iter()
        .map(|s| {
            Language::from_slug(&s.to_lowercase())
                .or_else(|| {
                    Language::ALL.iter().copied().find(|l| {
                        let name = pb::Language::try_from(l.code())
                            .map(|l| l.as_str_name())
                            .unwrap_or_default();
                        labelled(s, name)
                    })
                })
                .map(|l| l.code())
                .ok_or_else(|| format!("unknown language {s:?}; use kk, ru or en"))
        })
        .collect()
}

fn parse_skills(value: &str) -> Result<Vec<pb::GroupSkill>, String> {
    items(value)
        .into_iter()
        .map(|s| {
            let (name, payload) = s.split_once(':').unwrap_or((s, ""));
            let name = name.trim();
            let skill = Skill::from_slug(&name.to_lowercase())
                .or_else(|| {
                    Skill::ALL.iter().copied().find(|k| {
                        let proto = pb::Skill::try_from(k.code())
                            .map(|k| k.as_str_name())
                            .unwrap_or_default();
                        labelled(name, proto)
                    })
                })
                .ok_or_else(|| format!("unknown skill {name:?}"))?;
            let payload_tonnes = if payload.trim().is_empty() {
                0.0
            } else {
                payload
                    .trim()
                    .replace(',', ".")
                    .parse()
                    .map_err(|_| format!("payload of {name} is not a number of tonnes"))?
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
pub fn read(
    file: &[u8],
    organization: &str,
) -> Result<(Vec<GroupRows>, api::RosterFile), Vec<api::ImportRowError>> {
    let workbook = komek_sheets::read(file).map_err(|u| vec![error(u.line, "", u.message)])?;
    let (rows, file) = table(workbook)?;
    let Some((header, data)) = rows.split_first() else {
        return Err(vec![error(1, "", "the file has no rows".into())]);
    };
    let header_line = header.line;
    // Each column's position and its header as the file writes it, which errors name.
    let mut columns: HashMap<Column, (usize, String)> = HashMap::new();
    let mut errors = Vec::new();
    for (i, written) in header.cells.iter().enumerate() {
        let written = written.trim();
        if written.is_empty() {
            continue;
        }
        match Column::from_header(written) {
            Some(c) => {
                if let Some((_, first)) = columns.get(&c) {
                    errors.push(error(
                        header_line,
                        written,
                        format!("the same column as {first:?}"),
                    ));
                } else {
                    columns.insert(c, (i, written.to_string()));
                }
            }
            None => errors.push(error(
                header_line,
                written,
                format!(
                    "unknown column; known: {}",
                    Column::ALL.map(Column::key).join(", ")
                ),
            )),
        }
    }
    for c in Column::ALL.iter().filter(|c| c.required()) {
        if !columns.contains_key(c) {
            errors.push(error(
                header_line,
                c.key(),
                "required column missing".into(),
            ));
        }
    }
    if data.len() > MAX_ROWS {
        errors.push(error(
            header_line,
            "",
            format!("at most {MAX_ROWS} rows per import"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let name = |c: Column| -> &str { columns.get(&c).map_or(c.key(), |(_, w)| w.as_str()) };
    let col = |row: &Row, c: Column| -> String {
        columns
            .get(&c)
            .and_then(|(i, _)| row.cells.get(*i))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let width = header.cells.len();

    let mut groups: Vec<GroupRows> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for row in data {
        let line = row.line;
        // A workbook row is as wide as its last filled cell; a CSV row must match the header.
        let extra = row.cells.iter().skip(width).any(|c| !c.trim().is_empty());
        if extra || (matches!(file.format(), api::RosterFileFormat::Csv) && row.cells.len() < width)
        {
            errors.push(error(
                line,
                "",
                format!("{} fields; the header has {width}", row.cells.len()),
            ));
            continue;
        }
        let mut row_errors = Vec::new();
        let number = |c: Column, row_errors: &mut Vec<api::ImportRowError>| -> f64 {
            let v = col(row, c);
            if v.is_empty() && c == Column::RadiusKm {
                return 0.0;
            }
            v.replace(',', ".").parse().unwrap_or_else(|_| {
                row_errors.push(error(line, name(c), format!("{v:?} is not a number")));
                0.0
            })
        };
        let lat = number(Column::Lat, &mut row_errors);
        let lon = number(Column::Lon, &mut row_errors);
        let radius_km = number(Column::RadiusKm, &mut row_errors);
        let capacity = col(row, Column::Capacity)
            .parse::<i32>()
            .unwrap_or_else(|_| {
                row_errors.push(error(
                    line,
                    name(Column::Capacity),
                    "a whole number of jobs".into(),
                ));
                0
            });
        let skills = parse_skills(&col(row, Column::Skills)).unwrap_or_else(|m| {
            row_errors.push(error(line, name(Column::Skills), m));
            vec![]
        });
        let languages = parse_languages(&col(row, Column::Languages)).unwrap_or_else(|m| {
            row_errors.push(error(line, name(Column::Languages), m));
            vec![]
        });
        let group = api::Group {
            organization: organization.to_string(),
            display_name: col(row, Column::Group),
            base_location: Some(pb::LatLng {
                latitude: lat,
                longitude: lon,
            }),
            settlement: col(row, Column::Settlement),
            district: col(row, Column::District),
            region: col(row, Column::Region),
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
                            name(Column::Group),
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
                        .map(|v| error(line, name(column_of(&v.field)), v.description)),
                ),
            }
        }
        let volunteer = col(row, Column::Volunteer);
        let volunteer_languages = parse_languages(&col(row, Column::VolunteerLanguages))
            .unwrap_or_else(|m| {
                row_errors.push(error(line, name(Column::VolunteerLanguages), m));
                vec![]
            });
        let volunteer = match Text::line(200).parse(&volunteer, "volunteer") {
            Ok(name) => name,
            Err(v) => {
                row_errors.push(error(line, name(Column::Volunteer), v.description));
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
        Ok((groups, file))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_cells_split_on_semicolons_commas_and_new_lines_but_not_decimal_commas() {
        assert_eq!(
            items("vehicle_cargo:1,5; first_aid,\nsocial_care"),
            ["vehicle_cargo:1,5", "first_aid", "social_care"]
        );
        assert_eq!(items(" ; "), Vec::<&str>::new());
    }

    #[test]
    fn skills_and_languages_read_slugs_and_names_in_three_languages() {
        let s = parse_skills("vehicle_cargo:5; Первая помощь, Әлеуметтік күтім").unwrap();
        assert_eq!(s[0].payload_tonnes, 5.0);
        assert_eq!(s[1].skill, Skill::FirstAid.code());
        assert_eq!(s[2].skill, Skill::SocialCare.code());
        assert_eq!(
            parse_skills("Грузовой транспорт: 1,5").unwrap()[0].payload_tonnes,
            1.5
        );
        assert!(parse_skills("juggling").is_err());
        assert_eq!(parse_languages("kk;RU").unwrap().len(), 2);
        assert_eq!(
            parse_languages("Казахский, русский").unwrap(),
            [Language::Kazakh.code(), Language::Russian.code()]
        );
        assert!(parse_languages("de").is_err());
    }
}
