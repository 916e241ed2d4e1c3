//! Ctrl-C (SIGINT) during a blocking pool call.
//!
//! The first pool of a process registers two signal-hook actions for
//! SIGINT: one sets a flag that blocking pool calls watch (they return
//! `Interrupted`), the other runs the default action (terminate the
//! process) while no pool call is blocked, so a program that is not inside
//! a pool call reacts to Ctrl-C as it did before. In an mp child, whose
//! SIGINT action is mp's exit with code 1 (CPython's `KeyboardInterrupt`),
//! that second action exits with 1 instead. If the program had SIGINT
//! ignored, nothing is registered; if it had its own handler, that handler
//! keeps running (signal-hook chains to it) and only the flag is added.
//!
//! Workers ignore SIGINT: a terminal's Ctrl-C goes to the whole process
//! group, and the pool, not the keyboard, decides when workers stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use signal_hook::consts::SIGINT;

struct Hooks {
    /// A SIGINT arrived while a pool call was blocked.
    pending: Arc<AtomicBool>,
    /// No pool call is blocked: SIGINT gets its default action.
    idle: Arc<AtomicBool>,
    /// Blocked pool calls.
    active: Mutex<usize>,
}

static HOOKS: OnceLock<Option<Hooks>> = OnceLock::new();

/// What SIGINT did in this process before us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Disposition {
    Default,
    Ignored,
    /// mp's handler in its children: exit with code 1.
    ExitsWith1,
    Caught,
}

/// SIGINT's disposition, from `/proc/self/status` (no `sigaction` needed)
/// and, for mp's own handler in its children, from mp-process.
fn disposition() -> Disposition {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Disposition::Default;
    };
    let mask = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap_or(0)
    };
    let bit = 1u64 << (SIGINT - 1);
    if mask("SigIgn:") & bit != 0 {
        Disposition::Ignored
    } else if mp_process::sigint_exits_with_1() {
        Disposition::ExitsWith1
    } else if mask("SigCgt:") & bit != 0 {
        Disposition::Caught
    } else {
        Disposition::Default
    }
}

fn hooks() -> Option<&'static Hooks> {
    HOOKS.get().and_then(Option::as_ref)
}

/// Registers the SIGINT actions once per process (pool processes only).
pub(crate) fn install() {
    HOOKS.get_or_init(|| {
        let mode = disposition();
        if mode == Disposition::Ignored {
            return None;
        }
        let hooks = Hooks {
            pending: Arc::new(AtomicBool::new(false)),
            idle: Arc::new(AtomicBool::new(true)),
            active: Mutex::new(0),
        };
        signal_hook::flag::register(SIGINT, hooks.pending.clone()).ok()?;
        // Without these, registering would leave Ctrl-C ignored outside
        // pool calls (mp's handler, chained to, does nothing once it is no
        // longer SIGINT's action).
        match mode {
            Disposition::Default => {
                signal_hook::flag::register_conditional_default(SIGINT, hooks.idle.clone()).ok()?;
            }
            Disposition::ExitsWith1 => {
                signal_hook::flag::register_conditional_shutdown(SIGINT, 1, hooks.idle.clone())
                    .ok()?;
            }
            Disposition::Ignored | Disposition::Caught => {}
        }
        Some(hooks)
    });
}

/// Makes SIGINT a no-op in a worker (also when a forked worker inherited
/// the pool process's actions).
pub(crate) fn ignore_in_worker() {
    if let Some(hooks) = hooks() {
        // A blocked call that never ends: the default action never runs.
        *hooks.active.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        hooks.idle.store(false, Ordering::SeqCst);
    }
    let _ = signal_hook::flag::register(SIGINT, Arc::new(AtomicBool::new(false)));
}

/// A blocking pool call in progress: while one exists, SIGINT sets the
/// flag instead of terminating the process.
pub(crate) struct Scope {
    hooks: Option<&'static Hooks>,
}

impl Scope {
    pub(crate) fn enter() -> Scope {
        let hooks = hooks();
        if let Some(h) = hooks {
            *h.active.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            h.idle.store(false, Ordering::SeqCst);
        }
        Scope { hooks }
    }

    /// Whether a SIGINT arrived during a blocked call.
    pub(crate) fn interrupted(&self) -> bool {
        self.hooks.is_some_and(|h| h.pending.load(Ordering::SeqCst))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(h) = self.hooks {
            let mut active = h.active.lock().unwrap_or_else(PoisonError::into_inner);
            *active -= 1;
            if *active == 0 {
                h.pending.store(false, Ordering::SeqCst);
                h.idle.store(true, Ordering::SeqCst);
            }
        }
    }
}
