//! Shared memory and process-shared locks (work in progress).
