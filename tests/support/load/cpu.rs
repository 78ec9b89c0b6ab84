//! CPU time of the run's processes, from `/proc`: what each spent in user and kernel mode, so a
//! step's cost per request can be split between the services, PostgreSQL, NATS and the load
//! generator itself.

use std::collections::BTreeMap;

/// Processes measured as one: a name and the pids that count for it. PostgreSQL is its
/// postmaster and every backend and helper it started (found anew at each reading, since
/// backends come and go), with the time of those that ended (which the postmaster, having
/// reaped them, counts as its children's).
#[derive(Debug, Clone)]
pub enum Who {
    Process(u32),
    Tree(u32),
}

/// CPU seconds used so far by each named process or tree.
pub fn read(parts: &[(String, Who)]) -> BTreeMap<String, f64> {
    let tick = ticks_per_second();
    let mut out = BTreeMap::new();
    let all = all_stats();
    for (name, who) in parts {
        out.insert(name.clone(), ticks(&all, who) as f64 / tick);
    }
    out
}

/// Nanoseconds each thread (by its id) of each named process or tree has spent runnable but
/// waiting for a core so far (the scheduler's run delay, `/proc/<pid>/task/<tid>/schedstat`).
/// Where CPU time says what a step cost, this says how long its work queued for the cores:
/// each hand-over of a call between processes wakes one, and on a full machine it waits its
/// turn. See [`waited_between`].
pub type Waits = BTreeMap<String, BTreeMap<u32, u64>>;

/// The [`Waits`] of each named process or tree now.
pub fn waits(parts: &[(String, Who)]) -> Waits {
    let all = all_stats();
    parts
        .iter()
        .map(|(name, who)| {
            let threads = all
                .iter()
                .filter(|s| who.counts(s))
                .flat_map(|s| thread_delays(s.pid))
                .collect();
            (name.clone(), threads)
        })
        .collect()
}

/// Seconds each named process or tree waited for a core between two readings: per thread,
/// what it waited since the first (all of it for a thread that began since). A thread that
/// ended between them takes its wait with it (the kernel keeps no total for ended threads,
/// and summing the threads alive at each reading would count it below zero: run AH's
/// 1,300/s step, BENCHMARKS.md), so it is a floor.
pub fn waited_between(before: &Waits, after: &Waits) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(name, threads)| {
            let earlier = before.get(name);
            let nanos: u64 = threads
                .iter()
                .map(|(tid, now)| {
                    let then = earlier.and_then(|e| e.get(tid)).copied().unwrap_or(0);
                    now.saturating_sub(then)
                })
                .sum();
            (name.clone(), nanos as f64 / 1e9)
        })
        .collect()
}

impl Who {
    /// Whether a process's own time (not that of children it reaped) counts for it.
    fn counts(&self, s: &Stat) -> bool {
        match self {
            Who::Process(pid) => s.pid == *pid,
            Who::Tree(root) => s.pid == *root || s.ppid == *root,
        }
    }
}

/// Each thread of `pid` with the nanoseconds it waited on a run queue.
fn thread_delays(pid: u32) -> Vec<(u32, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| {
            let t = t.ok()?;
            let tid = t.file_name().to_str()?.parse().ok()?;
            let line = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
            Some((tid, parse_run_delay(&line)?))
        })
        .collect()
}

/// `schedstat`: time on a core, time waiting on a run queue (both in nanoseconds), and the
/// number of times it ran.
fn parse_run_delay(line: &str) -> Option<u64> {
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ticks(all: &[Stat], who: &Who) -> u64 {
    all.iter()
        .filter(|s| who.counts(s))
        .map(|s| match who {
            // A backend that ended during a step would otherwise take its time with it (run
            // AF's 1,300/s step, BENCHMARKS.md, came out below zero).
            Who::Tree(root) if s.pid == *root => s.ticks() + s.reaped,
            _ => s.ticks(),
        })
        .sum()
}

struct Stat {
    pid: u32,
    ppid: u32,
    utime: u64,
    stime: u64,
    /// User and system time of its children that ended and were waited for.
    reaped: u64,
}

impl Stat {
    fn ticks(&self) -> u64 {
        self.utime + self.stime
    }
}

fn all_stats() -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?))
        .collect()
}

/// `/proc/<pid>/stat`: the command name is in parentheses and may hold spaces, so fields are
/// counted after its closing parenthesis (state is field 3, ppid 4, utime 14, stime 15,
/// cutime 16, cstime 17).
fn parse(line: &str) -> Option<Stat> {
    let pid = line.split_whitespace().next()?.parse().ok()?;
    let rest = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        utime: fields.get(11)?.parse().ok()?,
        stime: fields.get(12)?.parse().ok()?,
        reaped: fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?,
    })
}

/// Clock ticks per second of `/proc`'s times: `getconf CLK_TCK` (100 on every Linux this runs
/// on; asked rather than assumed, without calling sysconf through unsafe code).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// The machine's speed as the run found it: microseconds a note for triage's shipped rules over
/// `notes`, the median of five rounds on one thread before anything else of the run starts.
/// A virtual machine's cores run faster or slower from hour to hour (BENCHMARKS.md, runs AA and
/// AB: 8–11% within a day); the same code's rates are compared across runs by this.
pub fn probe(notes: &[&str]) -> f64 {
    use komek_core::triage::{Input, RuleSet};
    let rules = RuleSet::from_toml(include_str!("../../../services/triage/rules/triage.toml"))
        .expect("the shipped rules");
    let passes = 200;
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let started = std::time::Instant::now();
            for _ in 0..passes {
                for note in notes {
                    std::hint::black_box(rules.classify(&Input {
                        description: note,
                        operator_category: None,
                        operator_priority: None,
                    }));
                }
            }
            started.elapsed().as_secs_f64() * 1e6 / (passes * notes.len()) as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let line = "4242 (postgres: komek (idle)) S 4000 4242 4242 0 -1 4194560 100 0 0 0 \
                    1234 56 0 0 20 0 1 0 100 1000 10 18446744073709551615";
        let s = parse(line).unwrap();
        assert_eq!((s.pid, s.ppid, s.utime, s.stime), (4242, 4000, 1234, 56));
        assert_eq!(s.reaped, 0);
    }

    #[test]
    fn a_thread_that_ended_does_not_take_the_others_wait_below_zero() {
        let waits = |threads: &[(u32, u64)]| -> Waits {
            [("triage".to_string(), threads.iter().copied().collect())].into()
        };
        // Thread 11 waited 900 ns before the step and ended in it; 10 waited 50 more, and
        // 12 began in the step and waited 30.
        let before = waits(&[(10, 100), (11, 900)]);
        let after = waits(&[(10, 150), (12, 30)]);
        let between = waited_between(&before, &after);
        assert_eq!(between["triage"], 80e-9);
    }

    #[test]
    fn the_run_delay_is_the_second_field_of_schedstat() {
        assert_eq!(parse_run_delay("123456 7890 42\n"), Some(7890));
        assert_eq!(parse_run_delay("123456\n"), None);
    }

    #[test]
    fn a_backend_that_ended_leaves_its_time_with_the_postmaster() {
        let stat = |pid, ppid, utime, reaped| Stat {
            pid,
            ppid,
            utime,
            stime: 0,
            reaped,
        };
        let postgres = Who::Tree(100);
        let before = [
            stat(100, 1, 10, 0),
            stat(101, 100, 50, 0),
            stat(7, 1, 900, 0),
        ];
        // The backend worked 5 ticks more and ended; the postmaster reaped it.
        let after = [stat(100, 1, 11, 55), stat(7, 1, 990, 0)];
        assert_eq!(ticks(&before, &postgres), 60);
        assert_eq!(ticks(&after, &postgres), 66);
    }
}
