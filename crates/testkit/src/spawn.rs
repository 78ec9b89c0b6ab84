//! Starting server processes that cannot outlive the test process.
//!
//! Linux delivers a parent-death signal when the *thread* that forked the child exits, not the
//! process. Test threads come and go, so every server is forked from one thread that lives as
//! long as the process; when the process dies, however it dies, each server gets its signal.

use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

type Job = (Command, i32, mpsc::Sender<std::io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();

fn spawner() -> mpsc::Sender<Job> {
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("komek-testkit-spawner".into())
                .spawn(move || {
                    for (mut cmd, signal, reply) in rx {
                        let _ = reply.send(spawn_with_death_signal(&mut cmd, signal));
                    }
                    // The channel lives in a static and never closes, so this thread never
                    // returns while the process runs.
                    loop {
                        std::thread::park();
                    }
                })
                .expect("spawn the spawner thread");
            Mutex::new(tx)
        })
        .lock()
        .unwrap()
        .clone()
}

fn spawn_with_death_signal(cmd: &mut Command, signal: i32) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl and getppid are async-signal-safe, as required between fork and exec. Std
    // runs pre_exec after switching uid/gid, so the setting survives the credential change.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Spawns `cmd` so that it receives `signal` when this process dies.
pub fn spawn_bound_to_process(cmd: Command, signal: i32) -> Child {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let (reply, answer) = mpsc::channel();
    spawner()
        .send((cmd, signal, reply))
        .expect("spawner thread alive");
    answer
        .recv()
        .expect("spawner answered")
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
}

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Sends `signal` to a child process that has not been reaped yet.
pub fn signal(child: &Child, signal: i32) {
    // SAFETY: plain kill(2) on a pid we own and have not reaped yet.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
}

/// Registers `f` to run when the process exits normally (the test harness calls exit()).
pub(crate) fn at_exit(f: extern "C" fn()) {
    // SAFETY: `f` is a plain function that lives for the whole program.
    unsafe {
        libc::atexit(f);
    }
}
