//! Objects of registered types (`Shared`): a value whose exposed methods
//! clients call by name.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mp_internal::panic_message;

use crate::error::RemoteError;
use crate::registry::Shared;
use crate::wire::{Answer, Fault, Op};

pub(super) struct SharedState {
    pub(super) value: Box<dyn Shared>,
    pub(super) exposed: &'static [&'static str],
}

impl SharedState {
    /// Calls the exposed method `op` names; a panic in it is the caller's
    /// error, not the server's.
    pub(super) fn call(&mut self, op: Op) -> Result<Answer, Fault> {
        let Op::Method { name, args } = op else {
            unreachable!("dispatched by execute")
        };
        if !self.exposed.contains(&name.as_str()) {
            return Err(Fault::NotExposed(name));
        }
        let value = &mut self.value;
        match catch_unwind(AssertUnwindSafe(|| value.call(&name, &args))) {
            Ok(Ok(bytes)) => Ok(Answer::Bytes(bytes)),
            Ok(Err(e)) => Err(Fault::Remote(e)),
            Err(panic) => Err(Fault::Remote(RemoteError::new(format!(
                "method {name:?} panicked: {}",
                panic_message(&*panic)
            )))),
        }
    }
}
