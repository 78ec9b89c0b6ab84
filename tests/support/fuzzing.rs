//! Property-based fuzzing of every service's decode-and-validate paths (the `fuzz` modules of
//! the services): raw random bytes, and well-formed protobuf built field by field from values
//! chosen to hurt (NaN and infinities, coordinates just out of range, extreme integers, bidi and
//! zero-width characters, malformed names, megabyte strings, CSV that breaks its own rules),
//! nested, then mutated. A target passes a case when it does not panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// A fuzz target: a name and what it does with the bytes.
pub type Target = (&'static str, fn(&[u8]));

/// Every target of every service.
pub fn targets() -> Vec<Target> {
    let mut all = Vec::new();
    all.extend_from_slice(komek_intake::fuzz::TARGETS);
    all.extend_from_slice(komek_triage::fuzz::TARGETS);
    all.extend_from_slice(komek_roster::fuzz::TARGETS);
    all.extend_from_slice(komek_matching::fuzz::TARGETS);
    all
}

/// A small, fast, seedable generator (xorshift64*): runs are repeatable from their seed.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.bits() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const INTS: &[i64] = &[
    0,
    1,
    -1,
    2,
    7,
    9,
    42,
    99,
    1000,
    100_000,
    i32::MAX as i64,
    i32::MIN as i64,
    i64::MAX,
    i64::MIN,
    u32::MAX as i64,
];

const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MIN_POSITIVE,
    f64::MAX,
    90.0,
    90.000_001,
    -90.5,
    180.0,
    181.0,
    43.3,
    77.2,
    1e6,
    -1e-300,
];

const WORDS: &[&str] = &[
    "",
    " ",
    "requests/",
    "requests/not-a-uuid",
    "requests/00000000-0000-0000-0000-000000000000",
    "groups/00000000-0000-0000-0000-000000000000/triage",
    "requests/00000000-0000-0000-0000-000000000000/triage",
    "organizations/",
    "volunteers/x",
    "assignments/../../etc",
    "v1.",
    "v1.18446744073709551615",
    "v1.-1.0.x",
    "1700000000000000.0194c4a7e6b37d5a9c3f00000000abcd",
    "00000000-0000-0000-0000-000000000000",
    "Asia/Almaty",
    "Mars/Olympus_Mons",
    "+77011234567",
    "+",
    "8 (701) 123-45-67",
    "\u{202E}",
    "\u{2066}x\u{2069}",
    "\u{200B}",
    "\u{FEFF}",
    "\u{0}",
    "\u{1B}[2J",
    "\r\n",
    "ё",
    "Көмір керек, жалғыз тұратын ардагер",
    "Нужна помощь пенсионерке",
    "🔥👨‍👩‍👧",
    "group,lat,lon,skills,capacity\n",
    "\"unclosed",
    "a,\"b\"\"c\",d\r\n",
    "vehicle_cargo:5;first_aid",
    "vehicle_cargo:NaN",
    "kk;ru;xx",
    "T20V-YT9P-2",
    "OIL1-0000-0",
    "99999999999999999999",
    "-1",
    "1e309",
];

/// A string made to hurt: a word, several words, a long run, or bytes that are barely text.
fn text(g: &mut Gen) -> Vec<u8> {
    match g.below(6) {
        0 => g.pick(WORDS).as_bytes().to_vec(),
        1 => {
            let mut s = String::new();
            for _ in 0..1 + g.below(6) {
                let word: &&str = g.pick(WORDS);
                s.push_str(word);
            }
            s.into_bytes()
        }
        2 => g
            .pick(WORDS)
            .repeat(1 + g.below(3000) as usize)
            .into_bytes(),
        3 => (0..g.below(64)).map(|_| (g.bits() % 128) as u8).collect(),
        4 => {
            let s: String = (0..g.below(40))
                .filter_map(|_| char::from_u32(g.below(0x11_0000) as u32))
                .collect();
            s.into_bytes()
        }
        _ => (0..g.below(64)).map(|_| g.bits() as u8).collect(),
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A well-formed protobuf message of random fields (1 to 16, the numbers Komek's messages use),
/// each a hurtful value of a random wire type, nested up to `depth`.
pub fn message(g: &mut Gen, depth: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..g.below(10) {
        let field = 1 + g.below(16);
        match g.below(6) {
            0 | 1 => {
                varint(field << 3, &mut out);
                let v = if g.below(3) == 0 {
                    g.bits()
                } else {
                    *g.pick(INTS) as u64
                };
                varint(v, &mut out);
            }
            2 => {
                varint(field << 3 | 2, &mut out);
                let body = text(g);
                varint(body.len() as u64, &mut out);
                out.extend_from_slice(&body);
            }
            3 if depth > 0 => {
                varint(field << 3 | 2, &mut out);
                let body = message(g, depth - 1);
                varint(body.len() as u64, &mut out);
                out.extend_from_slice(&body);
            }
            4 => {
                varint(field << 3 | 1, &mut out);
                out.extend_from_slice(&g.pick(FLOATS).to_le_bytes());
            }
            _ => {
                varint(field << 3 | 5, &mut out);
                out.extend_from_slice(&(*g.pick(FLOATS) as f32).to_le_bytes());
            }
        }
    }
    out
}

/// Flips, drops, repeats or cuts bytes of `bytes`.
fn mutate(g: &mut Gen, bytes: &mut Vec<u8>) {
    for _ in 0..1 + g.below(4) {
        if bytes.is_empty() {
            bytes.push(g.bits() as u8);
            continue;
        }
        let at = g.below(bytes.len() as u64) as usize;
        match g.below(4) {
            0 => bytes[at] ^= 1 << g.below(8),
            1 => {
                bytes.remove(at);
            }
            2 => {
                let b = bytes[at];
                bytes.insert(at, b);
            }
            _ => bytes.truncate(at),
        }
    }
}

/// Case `n` of a run: raw bytes, a structured message, or a structured message mutated.
pub fn case(g: &mut Gen) -> Vec<u8> {
    match g.below(4) {
        0 => (0..g.below(256)).map(|_| g.bits() as u8).collect(),
        1 => {
            let mut m = message(g, 3);
            mutate(g, &mut m);
            m
        }
        _ => message(g, 3),
    }
}

/// A case that made a target panic.
#[derive(Debug)]
pub struct Finding {
    pub target: &'static str,
    pub input: Vec<u8>,
    pub message: String,
}

/// Runs `cases` generated cases through `target`, from `seed`; the first panic found, if any.
pub fn run(target: Target, cases: u64, seed: u64) -> Option<Finding> {
    run_for(target, cases, std::time::Duration::MAX, seed)
}

/// [`run`], stopping early when `budget` has passed: a short run of a slow target.
pub fn run_for(
    target: Target,
    cases: u64,
    budget: std::time::Duration,
    seed: u64,
) -> Option<Finding> {
    let started = std::time::Instant::now();
    let mut g = Gen::new(seed);
    for _ in 0..cases {
        if started.elapsed() > budget {
            return None;
        }
        let input = case(&mut g);
        if let Err(message) = attempt(target, &input) {
            return Some(Finding {
                target: target.0,
                input,
                message,
            });
        }
    }
    None
}

/// Runs one input through a target; the panic message if it panicked.
pub fn attempt(target: Target, input: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| (target.1)(input))).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// The regressions kept in `dir`: each file is named `{target}-{anything}.bin`.
pub fn regressions(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap_or_default())
        })
        .collect();
    out.sort();
    out
}
