//! Starting an iteration: the first batch goes back with the request that
//! starts it, and a cursor object (held by the caller's session, holding
//! the iterated object) serves the rest, so a whole iteration costs one
//! round trip per batch.

use super::{Caller, Core};
use crate::server::object::Object;
use crate::wire::{Answer, Fault, ObjectId, Op};

impl Core {
    /// Runs `Iterate`/`IterateMethod` on object `id`.
    pub(super) fn iterate(
        &self,
        id: ObjectId,
        op: Op,
        caller: &Caller<'_>,
    ) -> Result<Answer, Fault> {
        let source = self.lookup(id)?;
        let (mut batch, cursor) = Object::start_iteration(&source, id, op, caller)?;
        if let Some(cursor) = cursor {
            let mut table = self.table.lock();
            // The cursor's hold on what it iterates (released with it).
            table.incref(id)?;
            batch.cursor = Some(table.insert(cursor, Some(caller.session)));
        }
        Ok(Answer::Batch(batch))
    }
}
