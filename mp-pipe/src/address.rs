//! Where listeners listen and clients connect: Unix paths, abstract names, TCP.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::net::{SocketAddrAny, SocketAddrUnix};
use serde::{Deserialize, Serialize};

/// Where a [`Listener`](crate::Listener) listens and a
/// [`Client`](crate::Client) connects (Python's `address` + `family`).
///
/// Parsed from strings the way Python users write them:
///
/// | string | address |
/// |---|---|
/// | `/tmp/mp.sock`, `unix:/tmp/mp.sock` | Unix socket at a path (`AF_UNIX`) |
/// | `@name`, `abstract:name` | Linux abstract Unix socket (no file) |
/// | `127.0.0.1:6000`, `tcp:localhost:6000`, `[::1]:6000` | TCP (`AF_INET`/`AF_INET6`) |
///
/// Every call that takes an address takes anything [`ToAddress`]: an
/// `Address`, a string in one of these forms, a `SocketAddr`, a path, or a
/// `(host, port)` pair as Python writes it. A string that is none of these
/// is [`AddressParseError`] (inside the call's error type), never a panic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Address {
    /// A Unix socket bound to a file-system path.
    Unix(PathBuf),
    /// A Linux abstract-namespace Unix socket: no file, gone when closed.
    Abstract(Vec<u8>),
    /// A TCP socket.
    Tcp(SocketAddr),
}

impl Address {
    /// A fresh abstract address no other listener uses (Python's default
    /// `Listener()` address, without a file to clean up).
    pub fn unique() -> Address {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut random = [0u8; 8];
        crate::auth::fill_random(&mut random);
        let name = format!(
            "mp-{}-{}-{:016x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            u64::from_le_bytes(random)
        );
        Address::Abstract(name.into_bytes())
    }

    /// TCP on the loopback interface (`127.0.0.1:port`; port 0 picks a free one).
    pub fn localhost(port: u16) -> Address {
        Address::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Whether this is a TCP address.
    pub fn is_tcp(&self) -> bool {
        matches!(self, Address::Tcp(_))
    }

    pub(crate) fn unix_addr(&self) -> std::io::Result<Option<SocketAddrUnix>> {
        Ok(match self {
            Address::Unix(path) => Some(SocketAddrUnix::new(path.as_path())?),
            Address::Abstract(name) => Some(SocketAddrUnix::new_abstract_name(name)?),
            Address::Tcp(_) => None,
        })
    }

    /// The address a socket reports (`getsockname`/`getpeername`/`accept`).
    pub(crate) fn from_any(addr: SocketAddrAny) -> Option<Address> {
        if let Ok(unix) = SocketAddrUnix::try_from(addr.clone()) {
            if let Some(name) = unix.abstract_name() {
                return Some(Address::Abstract(name.to_vec()));
            }
            let path = unix.path_bytes().unwrap_or_default();
            return Some(Address::Unix(PathBuf::from(std::ffi::OsStr::from_bytes(
                path,
            ))));
        }
        SocketAddr::try_from(addr).ok().map(Address::Tcp)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
            Address::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

/// The string is not an address mp understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressParseError(String);

impl fmt::Display for AddressParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid address {:?}: expected a path, @name, or host:port",
            self.0
        )
    }
}

impl std::error::Error for AddressParseError {}

impl FromStr for Address {
    type Err = AddressParseError;

    fn from_str(s: &str) -> Result<Address, AddressParseError> {
        let bad = || AddressParseError(s.to_owned());
        if let Some(path) = s.strip_prefix("unix:") {
            return if path.is_empty() {
                Err(bad())
            } else {
                Ok(Address::Unix(path.into()))
            };
        }
        if let Some(name) = s.strip_prefix("abstract:").or_else(|| s.strip_prefix('@')) {
            return if name.is_empty() {
                Err(bad())
            } else {
                Ok(Address::Abstract(name.into()))
            };
        }
        if s.starts_with('/') || s.starts_with("./") || s.starts_with("../") {
            return Ok(Address::Unix(s.into()));
        }
        let hostport = s.strip_prefix("tcp:").unwrap_or(s);
        if let Ok(addr) = hostport.parse::<SocketAddr>() {
            return Ok(Address::Tcp(addr));
        }
        hostport
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(Address::Tcp)
            .ok_or_else(bad)
    }
}

impl TryFrom<&str> for Address {
    type Error = AddressParseError;

    fn try_from(s: &str) -> Result<Address, AddressParseError> {
        s.parse()
    }
}

/// What an address parameter accepts (Python passes a string, a path or a
/// `(host, port)` tuple): an [`Address`] or `&Address`, a `&str`/`String` in
/// the forms [`Address`] lists, a `SocketAddr`, a `Path`/`PathBuf` (a Unix
/// socket), or `(host, port)` with the host as a string or an IP address.
///
/// ```
#[doc = concat!("use ", crate::mp_crate!(pipe), "::{Address, ToAddress};")]
///
/// assert_eq!("127.0.0.1:6000".to_address(), Ok(Address::localhost(6000)));
/// assert_eq!(("127.0.0.1", 6000).to_address(), Ok(Address::localhost(6000)));
/// assert_eq!("@svc".to_address(), Ok(Address::Abstract(b"svc".to_vec())));
/// assert!("no port here".to_address().is_err());
/// ```
pub trait ToAddress {
    /// The address, or why the value is not one.
    fn to_address(self) -> Result<Address, AddressParseError>;
}

/// An [`Address`], and whatever converts into one (`SocketAddr`, `PathBuf`).
impl<T: Into<Address>> ToAddress for T {
    fn to_address(self) -> Result<Address, AddressParseError> {
        Ok(self.into())
    }
}

impl ToAddress for &Address {
    fn to_address(self) -> Result<Address, AddressParseError> {
        Ok(self.clone())
    }
}

impl ToAddress for &str {
    fn to_address(self) -> Result<Address, AddressParseError> {
        self.parse()
    }
}

impl ToAddress for String {
    fn to_address(self) -> Result<Address, AddressParseError> {
        self.parse()
    }
}

impl ToAddress for &String {
    fn to_address(self) -> Result<Address, AddressParseError> {
        self.parse()
    }
}

impl ToAddress for &Path {
    fn to_address(self) -> Result<Address, AddressParseError> {
        Ok(Address::Unix(self.to_path_buf()))
    }
}

impl ToAddress for (&str, u16) {
    fn to_address(self) -> Result<Address, AddressParseError> {
        let (host, port) = self;
        let bad = || AddressParseError(format!("({host:?}, {port})"));
        // Python's `("", port)` means every interface.
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(Address::Tcp)
            .ok_or_else(bad)
    }
}

impl ToAddress for (IpAddr, u16) {
    fn to_address(self) -> Result<Address, AddressParseError> {
        Ok(Address::Tcp(SocketAddr::from(self)))
    }
}

impl ToAddress for (Ipv4Addr, u16) {
    fn to_address(self) -> Result<Address, AddressParseError> {
        Ok(Address::Tcp(SocketAddr::from(self)))
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::Tcp(addr)
    }
}

impl From<PathBuf> for Address {
    fn from(path: PathBuf) -> Address {
        Address::Unix(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_python_users_write() {
        assert_eq!(
            "/tmp/x.sock".parse(),
            Ok(Address::Unix("/tmp/x.sock".into()))
        );
        assert_eq!(
            "unix:rel.sock".parse(),
            Ok(Address::Unix("rel.sock".into()))
        );
        assert_eq!("@svc".parse(), Ok(Address::Abstract(b"svc".to_vec())));
        assert_eq!(
            "abstract:svc".parse(),
            Ok(Address::Abstract(b"svc".to_vec()))
        );
        assert_eq!("127.0.0.1:6000".parse(), Ok(Address::localhost(6000)));
        assert_eq!("tcp:127.0.0.1:7".parse(), Ok(Address::localhost(7)));
        assert_eq!(
            "[::1]:5".parse::<Address>().unwrap(),
            Address::Tcp("[::1]:5".parse().unwrap())
        );
        assert!("localhost:6000".parse::<Address>().unwrap().is_tcp());
        assert!("".parse::<Address>().is_err());
        assert!("@".parse::<Address>().is_err());
        assert!("no port here".parse::<Address>().is_err());
    }

    #[test]
    fn to_address_takes_what_python_passes() {
        assert_eq!("127.0.0.1:9".to_address(), Ok(Address::localhost(9)));
        assert_eq!(
            String::from("/tmp/s").to_address(),
            Ok(Address::Unix("/tmp/s".into()))
        );
        assert_eq!(("127.0.0.1", 9).to_address(), Ok(Address::localhost(9)));
        assert_eq!(
            ("", 9).to_address(),
            Ok(Address::Tcp(SocketAddr::from(([0, 0, 0, 0], 9))))
        );
        assert_eq!(
            (Ipv4Addr::LOCALHOST, 9).to_address(),
            Ok(Address::localhost(9))
        );
        assert_eq!(
            Path::new("/tmp/s").to_address(),
            Ok(Address::Unix("/tmp/s".into()))
        );
        assert_eq!(
            Address::try_from("@n"),
            Ok(Address::Abstract(b"n".to_vec()))
        );
        let err = "nowhere".to_address().unwrap_err();
        assert!(err.to_string().contains("\"nowhere\""), "{err}");
        assert!(("no such host.invalid", 1).to_address().is_err());
    }

    #[test]
    fn display_parses_back() {
        for a in [
            Address::Unix("/a/b".into()),
            Address::Abstract(b"n".to_vec()),
            Address::localhost(9),
        ] {
            assert_eq!(a.to_string().parse::<Address>().unwrap(), a);
        }
    }

    #[test]
    fn unique_addresses_differ() {
        assert_ne!(Address::unique(), Address::unique());
    }
}
