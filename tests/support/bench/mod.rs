//! `komek-bench`: the component benchmarks of BENCHMARKS.md, each against its baseline in the
//! same run, printed as the tables the file quotes. The pipeline under a surge is `komek-load`.
//!
//! Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0,
//! geonames.org) and Quattroshapes (CC-BY).

pub mod campaign;
pub mod maintenance;
pub mod nearest;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use komek_core::GeoPoint;

use crate::nemesis::rng::Rng;
use crate::settlements;

/// Bytes allocated and not yet freed, kept by the benchmark command's allocator (zero in
/// executables without it).
pub static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

pub fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// The services' allocator (mimalloc), counting what is live in [`ALLOCATED`]: what a
/// structure costs in memory is the difference across building it.
pub struct Counting;

// SAFETY: every call is passed to mimalloc unchanged; only a counter is added.
// An allocator can only be written as unsafe code.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is mimalloc's.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new, Ordering::Relaxed);
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new) }
    }
}

/// The median time of one call of `f`. Calls are timed in samples of at least 50 ms (one call
/// when a call takes longer), after one sample of warm-up; samples are taken until `budget`
/// is spent, at least three and at most 15.
pub fn median_time<F: FnMut()>(budget: Duration, mut f: F) -> Duration {
    let started = Instant::now();
    let t = Instant::now();
    f();
    let once = t.elapsed().max(Duration::from_nanos(1));
    let per_sample =
        (Duration::from_millis(50).as_nanos() / once.as_nanos()).clamp(1, 1 << 24) as u32;
    let mut samples = Vec::new();
    while samples.len() < 3 || (samples.len() < 15 && started.elapsed() < budget) {
        let t = Instant::now();
        for _ in 0..per_sample {
            f();
        }
        samples.push(t.elapsed() / per_sample);
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// `n` points at real settlements of Kazakhstan, each up to about 2 km from the settlement's
/// centre, settlements drawn with replacement.
pub fn jittered_settlements(rng: &mut Rng, n: usize) -> Vec<GeoPoint> {
    let all = settlements::all();
    (0..n)
        .map(|_| {
            let s = &all[rng.below(all.len())];
            let jitter = |rng: &mut Rng| (rng.below(4001) as f64 - 2000.0) / 111_000.0;
            let lat = (s.lat + jitter(rng)).clamp(-90.0, 90.0);
            GeoPoint::new(lat, s.lon + jitter(rng)).expect("near a real settlement")
        })
        .collect()
}

/// A duration for a table: µs below a millisecond, ms below ten seconds.
pub fn show(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 10_000_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{:.1} s", us / 1e6)
    }
}
