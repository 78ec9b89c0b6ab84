//! The model file: a format line, the version, how the model was made, the heads with their
//! labels, the biases, then one line per feature with its weights, closed by a checksum of
//! everything before it.

use rustc_hash::FxHashMap;
use std::fmt::Write as _;

use super::{Head, MAGIC, Model, ModelError, model_err};

impl Model {
    /// The model as its file text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{MAGIC}");
        let _ = writeln!(out, "version\t{}", self.version);
        let _ = writeln!(out, "about\t{}", self.about.replace(['\t', '\n'], " "));
        for h in &self.heads {
            let _ = writeln!(out, "head\t{}\t{}", h.name, h.labels.join(" "));
        }
        let bias: Vec<String> = self.bias.iter().flatten().map(|b| num(*b)).collect();
        let _ = writeln!(out, "bias\t{}", bias.join(" "));
        let _ = writeln!(out, "features\t{}", self.index.len());
        let mut rows: Vec<(&String, &usize)> = self.index.iter().collect();
        rows.sort();
        for (name, &row) in rows {
            let w: Vec<String> = self.weights[row * self.width..(row + 1) * self.width]
                .iter()
                .map(|w| num(*w))
                .collect();
            let _ = writeln!(out, "{name}\t{}", w.join(" "));
        }
        let sum = fnv1a(out.as_bytes());
        let _ = writeln!(out, "end\t{sum:016x}");
        out
    }

    /// Reads and checks a model file: format, heads, the number and finiteness of every
    /// weight, no feature twice, and the closing checksum.
    pub fn from_text(source: &str) -> Result<Self, ModelError> {
        let Some(end_at) = source.trim_end().rfind("\nend\t") else {
            return Err(model_err(
                source.lines().count(),
                "no closing \"end\" line: the file is cut short",
            ));
        };
        let body = &source[..end_at + 1];
        let last_line = body.lines().count() + 1;
        let claimed = source[end_at + 5..].trim();
        if claimed != format!("{:016x}", fnv1a(body.as_bytes())) {
            return Err(model_err(
                last_line,
                "checksum does not match: the file was changed or damaged",
            ));
        }
        let mut lines = body.lines().enumerate().map(|(i, l)| (i + 1, l));
        let mut next = |what: &str| {
            lines
                .next()
                .ok_or_else(|| model_err(last_line, format!("missing {what}")))
        };
        let (n, magic) = next("format line")?;
        if magic != MAGIC {
            return Err(model_err(n, format!("expected \"{MAGIC}\"")));
        }
        let (n, line) = next("version")?;
        let version = field(line, "version", n)?.trim().to_string();
        if version.is_empty() || version.chars().count() > 64 {
            return Err(model_err(n, "version: 1 to 64 characters"));
        }
        let (n, line) = next("about")?;
        let about = field(line, "about", n)?.to_string();
        let mut heads = Vec::new();
        let (mut n, mut line) = next("head")?;
        while let Some(rest) = line.strip_prefix("head\t") {
            let (name, labels) = rest
                .split_once('\t')
                .ok_or_else(|| model_err(n, "head: a name, a tab and its labels"))?;
            let labels: Vec<String> = labels.split(' ').map(str::to_string).collect();
            if name.is_empty() || labels.len() < 2 || labels.iter().any(String::is_empty) {
                return Err(model_err(n, "head: a name and at least two labels"));
            }
            heads.push(Head {
                name: name.to_string(),
                labels,
            });
            (n, line) = next("bias")?;
        }
        if heads.is_empty() {
            return Err(model_err(n, "no head"));
        }
        let width: usize = heads.iter().map(|h| h.labels.len()).sum();
        let flat = numbers(field(line, "bias", n)?, width, n)?;
        let mut bias = Vec::new();
        let mut at = 0;
        for h in &heads {
            bias.push(flat[at..at + h.labels.len()].to_vec());
            at += h.labels.len();
        }
        let (n, line) = next("features")?;
        let count: usize = field(line, "features", n)?
            .parse()
            .map_err(|_| model_err(n, "features: a count"))?;
        let mut index = FxHashMap::with_capacity_and_hasher(count, Default::default());
        let mut weights = Vec::with_capacity(count * width);
        for (n, line) in lines {
            let (name, w) = line
                .split_once('\t')
                .ok_or_else(|| model_err(n, "a feature, a tab and its weights"))?;
            if name.is_empty() {
                return Err(model_err(n, "empty feature"));
            }
            if index.insert(name.to_string(), index.len()).is_some() {
                return Err(model_err(n, format!("feature \"{name}\" written twice")));
            }
            weights.extend(numbers(w, width, n)?);
        }
        if index.len() != count {
            return Err(model_err(
                last_line,
                format!("{} features, the header says {count}", index.len()),
            ));
        }
        Ok(Self {
            version,
            about,
            heads,
            bias,
            index,
            weights,
            width,
        })
    }
}

fn field<'a>(line: &'a str, key: &str, n: usize) -> Result<&'a str, ModelError> {
    line.strip_prefix(key)
        .and_then(|r| r.strip_prefix('\t'))
        .ok_or_else(|| model_err(n, format!("expected \"{key}\", a tab and its value")))
}

fn numbers(text: &str, want: usize, n: usize) -> Result<Vec<f32>, ModelError> {
    let out: Vec<f32> = text
        .split(' ')
        .map(|s| s.parse::<f32>().ok().filter(|v| v.is_finite()))
        .collect::<Option<_>>()
        .ok_or_else(|| model_err(n, "weights must be finite numbers"))?;
    if out.len() != want {
        return Err(model_err(
            n,
            format!("{} weights, expected {want}", out.len()),
        ));
    }
    Ok(out)
}

/// A weight as written: three significant digits are below what training resolves.
pub(super) fn num(v: f32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = format!("{v:.2e}");
    // "1.2300e-2" → "1.23e-2": shorter files, same value.
    match s.split_once('e') {
        Some((m, e)) => {
            let m = m.trim_end_matches('0').trim_end_matches('.');
            if e == "0" {
                m.to_string()
            } else {
                format!("{m}e{e}")
            }
        }
        None => s,
    }
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
