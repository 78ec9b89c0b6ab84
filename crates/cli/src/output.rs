//! What the command prints: tables and lines for people (labels in their language, from the
//! console's message files), JSON for scripts, and exit codes that say what happened.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use komek_i18n::{Arg, Lang, enum_label, text, text_with};
use prost_types::Timestamp;
use serde_json::Value;
use tonic::Code;

use crate::args::Output;

/// The message for a missing key: the one error every command shares before any call.
pub const NO_KEY: &str =
    "no key: give --key, set KOMEK_KEY, or put key = \"...\" in ~/.config/komek/cli.toml";

/// Exit codes: documented in `komek --help`.
pub mod exit {
    pub const OTHER: u8 = 1;
    pub const INVALID: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const DENIED: u8 = 5;
    pub const UNAVAILABLE: u8 = 6;
}

/// The exit code for a call refused with `code`.
pub fn exit_code(code: Code) -> u8 {
    match code {
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::AlreadyExists => exit::INVALID,
        Code::NotFound => exit::NOT_FOUND,
        Code::Unauthenticated | Code::PermissionDenied => exit::DENIED,
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted => {
            exit::UNAVAILABLE
        }
        _ => exit::OTHER,
    }
}

/// Where the printing goes and in which form.
pub struct Out {
    pub lang: Lang,
    pub form: Output,
}

impl Out {
    pub fn t(&self, key: &str) -> String {
        text(self.lang, key)
    }

    pub fn t_with(&self, key: &str, args: &[(&str, Arg<'_>)]) -> String {
        text_with(self.lang, key, args)
    }

    /// The label of a protobuf enum value (`CATEGORY_FUEL_DELIVERY`), or "—" for none.
    pub fn label(&self, proto_name: &str) -> String {
        if proto_name.is_empty() || proto_name.ends_with("_UNSPECIFIED") {
            return "—".into();
        }
        enum_label(self.lang, proto_name)
    }

    pub fn json(&self) -> bool {
        self.form == Output::Json
    }

    /// Prints `value` as JSON (scripts) or runs `people` (tables and lines).
    pub fn show(&self, value: &Value, people: impl FnOnce()) {
        if self.json() {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            people();
        }
    }

    /// One JSON object per line, for streams a script reads as they come.
    pub fn json_line(&self, value: &Value) {
        println!("{}", serde_json::to_string(value).unwrap_or_default());
    }

    /// A refused or failed call: the message in the user's language where Komek has one, the
    /// fields at fault, and the exit code.
    pub fn refused(&self, status: &tonic::Status) -> ExitCode {
        let fields = field_violations(status);
        if self.json() {
            let value = serde_json::json!({
                "error": {
                    "code": format!("{:?}", status.code()),
                    "message": status.message(),
                    "fields": fields.iter().map(|(f, d)| serde_json::json!({"field": f, "description": d})).collect::<Vec<_>>(),
                }
            });
            eprintln!("{}", serde_json::to_string(&value).unwrap_or_default());
        } else {
            let what = match exit_code(status.code()) {
                exit::INVALID => "cli-error-invalid",
                exit::NOT_FOUND => "cli-error-not-found",
                exit::DENIED => "cli-error-denied",
                exit::UNAVAILABLE => "cli-error-unavailable",
                _ => "cli-error-other",
            };
            eprintln!("{}: {}", self.t(what), status.message());
            for (field, description) in &fields {
                eprintln!("  {field}: {description}");
            }
        }
        ExitCode::from(exit_code(status.code()))
    }

    /// Input the user has to change before trying again.
    pub fn input(&self, message: &str) -> ExitCode {
        if self.json() {
            let value = serde_json::json!({"error": {"code": "Input", "message": message}});
            eprintln!("{}", serde_json::to_string(&value).unwrap_or_default());
        } else {
            eprintln!("{}: {message}", self.t("cli-error-invalid"));
        }
        ExitCode::from(exit::INVALID)
    }

    /// An error before or outside a call (a file that does not read, no key).
    pub fn failed(&self, err: &anyhow::Error) -> ExitCode {
        if err.to_string() == NO_KEY {
            if self.json() {
                let value = serde_json::json!({"error": {"code": "NoKey", "message": NO_KEY}});
                eprintln!("{}", serde_json::to_string(&value).unwrap_or_default());
            } else {
                eprintln!("{}", self.t("cli-no-key"));
            }
            return ExitCode::from(exit::DENIED);
        }
        if self.json() {
            let value =
                serde_json::json!({"error": {"code": "Local", "message": format!("{err:#}")}});
            eprintln!("{}", serde_json::to_string(&value).unwrap_or_default());
        } else {
            eprintln!("{}: {err:#}", self.t("cli-error-other"));
        }
        ExitCode::from(exit::OTHER)
    }
}

/// The `BadRequest` field violations a refusal carries.
fn field_violations(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// A table: a header row and rows, columns as wide as their widest cell.
pub fn table(header: &[String], rows: &[Vec<String>]) {
    let columns = header.len();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .chain([header[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, w) in widths.iter().enumerate() {
            let cell = cells.get(i).map_or("", String::as_str);
            out.push_str(cell);
            if i + 1 < columns {
                out.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header);
    line(&widths.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
}

/// A timestamp as people read it, in UTC.
pub fn when(t: Option<&Timestamp>) -> String {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

/// A timestamp for scripts (RFC 3339), or null.
pub fn when_json(t: Option<&Timestamp>) -> Value {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| Value::String(t.to_rfc3339()))
        .unwrap_or(Value::Null)
}

/// Metres as kilometres with one decimal.
pub fn km(meters: f64) -> String {
    format!("{:.1} km", meters / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_exit_codes_by_kind() {
        assert_eq!(exit_code(Code::InvalidArgument), exit::INVALID);
        assert_eq!(exit_code(Code::FailedPrecondition), exit::INVALID);
        assert_eq!(exit_code(Code::NotFound), exit::NOT_FOUND);
        assert_eq!(exit_code(Code::PermissionDenied), exit::DENIED);
        assert_eq!(exit_code(Code::Unauthenticated), exit::DENIED);
        assert_eq!(exit_code(Code::Unavailable), exit::UNAVAILABLE);
        assert_eq!(exit_code(Code::Internal), exit::OTHER);
    }

    #[test]
    fn every_cli_message_exists_in_all_three_languages() {
        for lang in Lang::ALL {
            for key in [
                "cli-error-invalid",
                "cli-error-not-found",
                "cli-error-denied",
                "cli-error-unavailable",
                "cli-error-other",
                "cli-no-key",
            ] {
                assert!(komek_i18n::has(lang, key), "{key} in {lang:?}");
            }
        }
    }
}
