//! The start-up hook: code that runs before `main` in every process of
//! this binary, and turns a re-executed copy into the child it was started
//! as.
#![allow(unsafe_code)]

use std::sync::atomic::Ordering;

use super::{BOOTSTRAP_ENV, HOOK_RAN, PARENT_ENV};

ctor::declarative::ctor! {
    // SAFETY: the hook only reads the environment, and when it finds the
    // bootstrap variable it becomes the child: it is the first and only code
    // of this process to run (no other thread exists yet).
    #[ctor(unsafe, priority = late)]
    fn mp_start_up_hook() {
        HOOK_RAN.store(true, Ordering::Relaxed);
        if std::env::var_os(BOOTSTRAP_ENV).is_some() {
            let parent = std::env::var_os(PARENT_ENV);
            // SAFETY: no other thread exists before `main`.
            unsafe {
                std::env::remove_var(BOOTSTRAP_ENV);
                std::env::remove_var(PARENT_ENV);
            }
            crate::bootstrap::child_main(parent);
        }
    }
}
