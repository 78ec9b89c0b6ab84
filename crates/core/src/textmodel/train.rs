//! Training: one logistic regression per head, fitted with AdaGrad in a seeded order.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use super::{Features, Head, Model, given, softmax};

/// One labelled note: its features and, per head, the index of its label.
#[derive(Debug, Clone)]
pub struct Example {
    pub features: Features,
    pub labels: Vec<usize>,
    /// How much this example counts (1 for most).
    pub weight: f32,
}

/// Training settings; the defaults are what the shipped model is trained with.
#[derive(Debug, Clone)]
pub struct Training {
    pub epochs: usize,
    pub learning_rate: f32,
    /// L2 penalty per update of a feature's weights.
    pub l2: f32,
    /// Features seen in fewer notes are left out: they cannot generalise and bloat the file.
    pub min_notes: usize,
    /// Features whose every weight is smaller than this are dropped from the file.
    pub prune_below: f32,
    pub seed: u64,
}

impl Default for Training {
    fn default() -> Self {
        Self {
            epochs: 30,
            learning_rate: 0.5,
            l2: 1e-4,
            min_notes: 2,
            prune_below: 2e-2,
            seed: 7,
        }
    }
}

/// A small deterministic generator (xorshift64*), so a training run is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Trains one logistic regression per head with AdaGrad on the examples, in a seeded order.
pub fn train(
    heads: Vec<Head>,
    examples: &[Example],
    settings: &Training,
    version: &str,
    about: &str,
) -> Model {
    let width: usize = heads.iter().map(|h| h.labels.len()).sum();
    // Features seen in enough notes.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for e in examples {
        for (f, _) in e.features.iter() {
            *seen.entry(f).or_default() += 1;
        }
    }
    let mut names: Vec<&str> = seen
        .iter()
        .filter(|(_, c)| **c >= settings.min_notes)
        .map(|(f, _)| *f)
        .collect();
    names.sort_unstable();
    let index: HashMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, f)| (f.to_string(), i))
        .collect();
    let first = heads[0].labels.len();
    let is_given: Vec<bool> = names.iter().map(|f| given(f)).collect();
    let rows: Vec<Vec<(usize, f32)>> = examples
        .iter()
        .map(|e| {
            e.features
                .iter()
                .filter_map(|(f, v)| index.get(f).map(|&i| (i, v)))
                .collect()
        })
        .collect();
    let mut w = vec![0f32; names.len() * width];
    let mut g2 = vec![1e-6f32; names.len() * width];
    let mut bias = vec![0f32; width];
    let mut bias_g2 = vec![1e-6f32; width];
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = Rng(settings.seed.max(1));
    let mut grad = vec![0f32; width];
    for _ in 0..settings.epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        for &k in &order {
            let (row, e) = (&rows[k], &examples[k]);
            let mut s = bias.clone();
            for &(f, v) in row {
                let from = if is_given[f] { first } else { 0 };
                for (acc, w) in s.iter_mut().zip(&w[f * width..(f + 1) * width]).skip(from) {
                    *acc += v * w;
                }
            }
            let mut at = 0;
            for (h, head) in heads.iter().enumerate() {
                let n = head.labels.len();
                let p = softmax(&s[at..at + n]);
                for j in 0..n {
                    let target = if j == e.labels[h] { 1.0 } else { 0.0 };
                    grad[at + j] = e.weight * (p[j] as f32 - target);
                }
                at += n;
            }
            for j in 0..width {
                bias_g2[j] += grad[j] * grad[j];
                bias[j] -= settings.learning_rate * grad[j] / bias_g2[j].sqrt();
            }
            for &(f, v) in row {
                let from = if is_given[f] { first } else { 0 };
                let row = f * width..(f + 1) * width;
                for ((w, g2), grad) in w[row.clone()]
                    .iter_mut()
                    .zip(&mut g2[row])
                    .zip(&grad)
                    .skip(from)
                {
                    let g = grad * v + settings.l2 * *w;
                    *g2 += g * g;
                    *w -= settings.learning_rate * g / g2.sqrt();
                }
            }
        }
    }
    // Keep the features that carry weight.
    let mut kept_index = FxHashMap::default();
    let mut kept = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let row = &w[i * width..(i + 1) * width];
        if row.iter().any(|v| v.abs() >= settings.prune_below) {
            kept_index.insert(name.to_string(), kept_index.len());
            kept.extend_from_slice(row);
        }
    }
    let mut split = Vec::new();
    let mut at = 0;
    for h in &heads {
        split.push(bias[at..at + h.labels.len()].to_vec());
        at += h.labels.len();
    }
    Model {
        version: version.to_string(),
        about: about.to_string(),
        heads,
        bias: split,
        index: kept_index,
        weights: kept,
        width,
    }
}
