//! What crosses between the pool and its workers: the messages on the
//! queues, the framing of arguments and results, and the authenticated
//! function references a worker runs.
//!
//! A chunk's arguments and results are framed per item (see `frames`).

use mp_internal::codec::from_bytes_exact;
use mp_internal::panic_message;
use std::any::TypeId;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};

use mp_handle::Fd;
use mp_process::{Args, CallError, RemoteFn, Target};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::frames::{ARG_DECODE, ARG_ENCODE, FrameReader, FrameWriter, PANICKED, RESULT_ENCODE};

/// Bytes crossing a queue as one copy: shared in this process (a chunk may
/// be sent again if its worker dies before starting it), owned once received.
///
/// Shared bytes are an `Arc<Vec<u8>>`, not an `Arc<[u8]>`: a chunk's
/// freshly framed arguments are shared without copying them.
#[derive(Clone, Debug)]
pub(crate) enum WireBytes {
    Shared(Arc<Vec<u8>>),
    Owned(Vec<u8>),
}

impl WireBytes {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            WireBytes::Shared(bytes) => bytes,
            WireBytes::Owned(bytes) => bytes,
        }
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            WireBytes::Shared(bytes) => Arc::unwrap_or_clone(bytes),
            WireBytes::Owned(bytes) => bytes,
        }
    }
}

impl Serialize for WireBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.as_slice())
    }
}

impl<'de> Deserialize<'de> for WireBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WireBytes, D::Error> {
        serde_bytes::ByteBuf::deserialize(deserializer).map(|b| WireBytes::Owned(b.into_vec()))
    }
}

/// Pool to worker, on the worker's own task queue.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum TaskMsg {
    /// Run a chunk: `entry` is the authenticated reference of the typed
    /// chunk runner, `func` that of the user's function, `args` the frames.
    Run {
        chunk: u64,
        entry: WireBytes,
        func: WireBytes,
        args: WireBytes,
    },
    /// Finish: the pool was closed and has no more work.
    Stop,
}

/// Workers (and the pool's supervisor) to the result thread, on the one
/// shared result queue.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Report {
    /// A chunk ran: result frames, or why none could be made.
    Done {
        worker: u64,
        chunk: u64,
        /// Time spent on the chunk; 0: not measured.
        busy_ns: u64,
        output: Result<WireBytes, CallError>,
    },
    /// The initializer panicked; the worker exits.
    InitFailed { worker: u64, message: String },
    /// Posted by the supervisor once a worker has exited: everything the
    /// worker put before is ahead of it in the queue.
    Died { worker: u64, exitcode: i32 },
    /// Wakes the result thread (shutdown).
    Wake,
}

/// Appends one argument to a chunk (an item that does not encode becomes
/// that item's error).
#[inline]
pub(crate) fn push_arg<T: Serialize + ?Sized>(chunk: &mut FrameWriter, item: &T) {
    if let Err(why) = chunk.push(item) {
        unencodable(chunk, std::any::type_name::<T>(), why);
    }
}

#[cold]
#[inline(never)]
fn unencodable(chunk: &mut FrameWriter, type_name: &str, why: String) {
    chunk.fail(ARG_ENCODE, format!("{type_name} ({why})"));
}

/// Decodes the result frames of a chunk of `n` items, calling `each` with
/// every item's outcome in order.
pub(crate) fn decode_results<R: DeserializeOwned>(
    bytes: &[u8],
    n: usize,
    mut each: impl FnMut(Result<R, Error>),
) {
    let mut reader = FrameReader::parse(bytes).filter(|r| r.len() == n);
    let mut done = 0;
    while done < n {
        // A `Deserialize` impl that panics fails its item, not this thread.
        let ran = catch_unwind(AssertUnwindSafe(|| {
            while done < n {
                let outcome = decode_result(reader.as_mut());
                done += 1;
                each(outcome);
            }
        }));
        if let Err(payload) = ran {
            done += 1;
            let why = format!(
                "the result did not decode: {} (panicked: {})",
                std::any::type_name::<R>(),
                panic_message(&*payload)
            );
            each(Err(Error::Decode(why)));
        }
    }
}

#[inline]
fn decode_result<R: DeserializeOwned>(reader: Option<&mut FrameReader<'_>>) -> Result<R, Error> {
    match reader.and_then(FrameReader::next_item) {
        None => Err(Error::Decode(
            "the worker's results are malformed".to_owned(),
        )),
        Some(Ok(value)) => from_bytes_exact::<R>(value)
            .map_err(|e| Error::Decode(format!("the result did not decode: {e}"))),
        Some(Err((kind, message))) => Err(match kind {
            PANICKED => Error::Panicked(message),
            ARG_DECODE => Error::Decode(format!("the argument did not decode: {message}")),
            ARG_ENCODE => Error::Encode(format!("the argument did not encode: {message}")),
            RESULT_ENCODE => Error::Encode(format!("the result did not encode: {message}")),
            _ => Error::Decode(format!("a result of unknown kind {kind}")),
        }),
    }
}

// ----- function references ---------------------------------------------------

/// The typed chunk runner, as a worker that knows no types calls it.
pub(crate) type ChunkEntry = RemoteFn<(Vec<u8>, Vec<u8>), Result<Vec<u8>, CallError>>;

/// The pool's error for a chunk that failed as a whole in a worker.
pub(crate) fn chunk_error(e: CallError) -> Error {
    match e {
        CallError::Decode(why) => Error::Decode(why),
        CallError::Encode(why) => Error::Encode(why),
    }
}

/// The typed initializer runner.
pub(crate) type InitEntry = RemoteFn<(Vec<u8>, Vec<u8>, Vec<Fd>), Result<(), String>>;

/// A user function as workers receive it: the encoded (authenticated)
/// references of its typed runner and of the function itself.
#[derive(Debug)]
pub(crate) struct FnRef {
    pub(crate) entry: Arc<Vec<u8>>,
    pub(crate) func: Arc<Vec<u8>>,
}

type FnCache = HashMap<(TypeId, TypeId), (u32, Arc<FnRef>)>;

/// Encoded references made so far (an encoding computes two HMACs).
static FN_CACHE: Mutex<Option<FnCache>> = Mutex::new(None);

/// The reference of `f`, a `fn` item or non-capturing closure of `A -> R`.
pub(crate) fn fn_ref<F, A, R>(f: F) -> Result<Arc<FnRef>, Error>
where
    F: Target<A, Output = R>,
    A: Args,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let key = (TypeId::of::<F>(), TypeId::of::<(A, R)>());
    let pid = mp_process::pid();
    let mut cache = FN_CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let cached = cache.as_ref().and_then(|c| c.get(&key));
    if let Some((_, found)) = cached.filter(|(owner, _)| *owner == pid) {
        return Ok(found.clone());
    }
    let encode = |e: postcard::Error| Error::Encode(format!("a function reference: {e}"));
    let entry: ChunkEntry = RemoteFn::new(run_chunk::<A, R>);
    let found = Arc::new(FnRef {
        entry: Arc::new(postcard::to_allocvec(&entry).map_err(encode)?),
        func: Arc::new(postcard::to_allocvec(&RemoteFn::new(f)).map_err(encode)?),
    });
    cache
        .get_or_insert_with(HashMap::new)
        .insert(key, (pid, found.clone()));
    Ok(found)
}

/// A worker's initializer: references and encoded arguments.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Init {
    pub(crate) entry: WireBytes,
    pub(crate) func: WireBytes,
    pub(crate) args: WireBytes,
    /// The OS handles among the arguments (a `Queue`, ...), kept for every
    /// worker the pool starts: each start sends a copy, as Python's workers
    /// inherit their `initargs`.
    pub(crate) fds: Vec<SharedFd>,
}

/// A descriptor held for many worker starts; it serializes as an [`Fd`]
/// (only by the transport that starts a worker).
#[derive(Clone, Debug)]
pub(crate) struct SharedFd(Arc<OwnedFd>);

impl SharedFd {
    /// The descriptor for a worker's initializer: this one if nothing else
    /// holds it (the worker's own copy), else a duplicate.
    pub(crate) fn into_fd(self) -> std::io::Result<Fd> {
        match Arc::try_unwrap(self.0) {
            Ok(fd) => Ok(Fd::new(fd)),
            Err(shared) => shared.try_clone().map(Fd::new),
        }
    }
}

impl Serialize for SharedFd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Fd::serialize_borrowed(self.0.as_fd(), serializer)
    }
}

impl<'de> Deserialize<'de> for SharedFd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SharedFd, D::Error> {
        Fd::deserialize(deserializer).map(|fd| SharedFd(Arc::new(fd.into_owned())))
    }
}

impl Init {
    pub(crate) fn new<F, A>(f: F, args: &A) -> Result<Init, Error>
    where
        F: Target<A, Output = ()>,
        A: Args,
    {
        let encode = |e: postcard::Error| Error::Encode(format!("the initializer: {e}"));
        let entry: InitEntry = RemoteFn::new(run_init::<A>);
        // With the handles' side table, as a process's own arguments.
        let (args, fds) = mp_handle::encode(args)
            .map_err(|e| Error::Encode(format!("the initializer's arguments: {e}")))?;
        Ok(Init {
            entry: WireBytes::Owned(postcard::to_allocvec(&entry).map_err(encode)?),
            func: WireBytes::Owned(postcard::to_allocvec(&RemoteFn::new(f)).map_err(encode)?),
            args: WireBytes::Owned(args),
            fds: fds.into_iter().map(|fd| SharedFd(Arc::new(fd))).collect(),
        })
    }
}

/// Runs a chunk in a worker: decodes every argument frame, calls the
/// function on it (a panic is that item's outcome) and frames each outcome.
fn run_chunk<A, R>(func: Vec<u8>, args: Vec<u8>) -> Result<Vec<u8>, CallError>
where
    A: Args,
    R: Serialize + DeserializeOwned + 'static,
{
    let f: RemoteFn<A, R> = from_bytes_exact(&func)
        .map_err(|e| CallError::Decode(format!("the function reference did not decode: {e}")))?;
    let mut reader = FrameReader::parse(&args)
        .ok_or_else(|| CallError::Decode("the arguments are not a chunk".to_owned()))?;
    let n = reader.len();
    let mut out = FrameWriter::with_capacity(args.len() + args.len() / 2, n);
    while out.len() < n {
        // Runs items until one panics (one unwind guard for many items);
        // the panic is that item's outcome, and the rest go on.
        let ran = catch_unwind(AssertUnwindSafe(|| {
            while let Some(item) = reader.next_item() {
                match item {
                    Err((kind, message)) => out.fail(kind, message),
                    Ok(bytes) => match from_bytes_exact::<A>(bytes) {
                        Ok(a) => {
                            if let Err(why) = out.push(&f.call(a)) {
                                let why = format!("{} ({why})", std::any::type_name::<R>());
                                out.fail(RESULT_ENCODE, why);
                            }
                        }
                        Err(e) => out.fail(ARG_DECODE, e.to_string()),
                    },
                }
            }
        }));
        if let Err(payload) = ran {
            if out.len() < reader.position() {
                out.fail(PANICKED, panic_message(&*payload));
            }
        }
    }
    out.finish().map_err(CallError::Encode)
}

/// Runs the initializer in a worker; a panic is its error.
fn run_init<A: Args>(func: Vec<u8>, args: Vec<u8>, fds: Vec<Fd>) -> Result<(), String> {
    let f: RemoteFn<A, ()> = from_bytes_exact(&func)
        .map_err(|e| format!("the initializer reference did not decode: {e}"))?;
    let fds = fds.into_iter().map(Fd::into_owned).collect();
    let args: A = mp_handle::decode(&args, fds)
        .map_err(|e| format!("the initializer's arguments did not decode: {e}"))?;
    catch_unwind(AssertUnwindSafe(|| f.call(args))).map_err(|p| panic_message(&*p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_frames_run_and_results_decode_per_item() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        fn half(n: u32) -> u32 {
            assert!(n % 2 == 0, "odd: {n}");
            n / 2
        }
        let mut args = FrameWriter::with_capacity(0, 0);
        push_arg(&mut args, &4u32);
        push_arg(&mut args, &3u32);
        push_arg(&mut args, &10u32);
        let args = args.finish().unwrap();
        let f = postcard::to_allocvec(&RemoteFn::new(half)).unwrap();
        let out = run_chunk::<(u32,), u32>(f, args).unwrap();
        let mut got = Vec::new();
        decode_results::<u32>(&out, 3, |r| got.push(r));
        assert_eq!(got[0], Ok(2));
        assert_eq!(got[1], Err(Error::Panicked("odd: 3".to_owned())));
        assert_eq!(got[2], Ok(5));
    }

    #[test]
    fn an_unencodable_argument_is_that_items_error() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        struct Bad;
        impl Serialize for Bad {
            fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no way"))
            }
        }
        fn id(n: u8) -> u8 {
            n
        }
        let mut args = FrameWriter::with_capacity(0, 0);
        push_arg(&mut args, &1u8);
        push_arg(&mut args, &Bad);
        push_arg(&mut args, &3u8);
        let args = args.finish().unwrap();
        let f = postcard::to_allocvec(&RemoteFn::new(id)).unwrap();
        let out = run_chunk::<(u8,), u8>(f, args).unwrap();
        let mut got = Vec::new();
        decode_results::<u8>(&out, 3, |r| got.push(r));
        assert_eq!(got[0], Ok(1));
        assert!(
            matches!(&got[1], Err(Error::Encode(m)) if m.contains("Bad")),
            "{got:?}"
        );
        assert_eq!(got[2], Ok(3));
    }

    #[test]
    fn cut_short_results_are_decode_errors() {
        let _d = mp_testkit::deadline(std::time::Duration::from_secs(30));
        let mut got = Vec::new();
        decode_results::<u8>(&[1, 0], 2, |r| got.push(r));
        assert!(got.iter().all(|r| matches!(r, Err(Error::Decode(_)))));
    }
}
