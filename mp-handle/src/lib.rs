//! OS handles that travel inside serde values from one mp process to another.
//!
//! Python pickles a `Connection` or a shared `Value` by registering its file
//! descriptor with the transport ("reduction"). mp does the same without any
//! code-on-receive: an [`Fd`] serializes as an index into a side table of
//! descriptors, and the transport (a Unix socket with `SCM_RIGHTS`, or the
//! process bootstrap) carries the table next to the bytes.
//!
//! [`encode`] turns a value into `(bytes, descriptors)`; [`decode`] turns them
//! back. Every mp object that holds an OS handle (`Connection`, `Queue`,
//! `Value`, locks, `SharedMemory`) serializes through [`Fd`], so it can be an
//! argument of a child process or a message on a `Connection`.
//!
//! # Example
//!
//! ```
#![doc = concat!("use ", crate::mp_crate!(handle), "::{decode, encode, Fd};")]
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (a, b) = UnixStream::pair()?;
//! let value = (7u32, Fd::from(std::os::fd::OwnedFd::from(a)));
//! let (bytes, fds) = encode(&value)?;
//! assert_eq!(fds.len(), 1);
//!
//! // ... bytes and fds cross a process boundary here ...
//!
//! let (n, fd): (u32, Fd) = decode(&bytes, fds)?;
//! assert_eq!(n, 7);
//! let mut a = UnixStream::from(fd.into_owned());
//! a.write_all(b"hi")?;
//! let mut buf = [0; 2];
//! (&b).read_exact(&mut buf)?;
//! assert_eq!(&buf, b"hi");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

// Doc examples name mp's crates through `crate::mp_crate!`: `mp_handle` in this
// crate's own docs, `mp::handle` where the facade renders them.
mp_internal::doc_crate_paths!();

mod codec;
mod fd;

pub use codec::{Error, decode, encode, encode_into, raw_fds};
pub use fd::{Fd, FdRef, refused_handles};
