//! `set_executable`: which binary `Spawn` children and the forkserver are
//! started from, and the check that it is this very program.
//!
//! A child finds its function by its offset in the binary (see
//! `sys::code`), so another binary may run a child only if it is the same
//! build: the same GNU build id as this process's binary or, for binaries
//! without one, the same bytes. Anything else (another program, another
//! build) is refused when it is set, with a clear error, instead of
//! starting children that would hang or run the wrong code.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sys::Leaked;

/// This process's own binary, as the kernel knows it.
const OWN_BINARY: &str = "/proc/self/exe";

/// The binary set with `set_executable`, and the file it was checked as.
struct Chosen {
    path: PathBuf,
    checked: FileStamp,
}

/// What tells a file changed since it was checked.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        Ok(FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        })
    }
}

/// Replaced, never freed: a forked child may read its copy at any time.
static CHOSEN: Leaked<Option<Chosen>> = Leaked::new();

/// Starts `Spawn` children and the forkserver from the binary at `path`
/// (Python's `set_executable`), instead of this process's own binary
/// (`/proc/self/exe`).
///
/// `path` must be this very program: a copy, a link, or the same build
/// installed elsewhere (the same GNU build id or, without one, the same
/// bytes). For example where `/proc` is not mounted, or to start children
/// from a path that names them in `ps`. Another binary is refused now with
/// [`Error::Executable`]; it could not find the functions children are
/// asked to run. Applies to this process and its `Fork` children.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A copy of this program, elsewhere.
/// let copy = std::env::temp_dir().join(format!("mp-doc-worker-{}", std::process::id()));
/// std::fs::copy(std::env::current_exe()?, &copy)?;
#[doc = concat!(crate::mp_crate!(process), "::set_executable(&copy)?;")]
///
/// fn double(x: u32) -> u32 {
///     2 * x
/// }
#[doc = concat!("let h = ", crate::mp_crate!(process), "::Context::new(", crate::mp_crate!(process), "::StartMethod::Spawn).spawn(double, (21,))?;")]
/// assert_eq!(h.join()?, 42);
///
/// // Another program is refused at once.
#[doc = concat!("assert!(", crate::mp_crate!(process), "::set_executable(\"/bin/true\").is_err());")]
#[doc = concat!("# ", crate::mp_crate!(process), "::set_executable(\"/proc/self/exe\")?;")]
/// # std::fs::remove_file(&copy)?;
/// # Ok(())
/// # }
/// ```
pub fn set_executable(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let checked = check(path)?;
    CHOSEN.replace(Some(Chosen {
        path: path.to_owned(),
        checked,
    }));
    Ok(())
}

/// The binary to start a re-executed child from.
pub(crate) fn executable() -> Result<PathBuf> {
    let Some(Some(chosen)) = CHOSEN.get() else {
        return Ok(PathBuf::from(OWN_BINARY));
    };
    // Replaced since it was checked (an upgrade, a rebuild): check again.
    if FileStamp::of(&chosen.path).ok() != Some(chosen.checked) {
        set_executable(&chosen.path)?;
    }
    Ok(chosen.path.clone())
}

fn refused(path: &Path, why: impl Into<String>) -> Error {
    Error::Executable {
        path: path.to_owned(),
        why: why.into(),
    }
}

/// Checks that `path` is an executable file of this very program.
fn check(path: &Path) -> Result<FileStamp> {
    let stamp = FileStamp::of(path).map_err(|e| refused(path, e.to_string()))?;
    rustix::fs::access(path, rustix::fs::Access::EXEC_OK)
        .map_err(|e| refused(path, format!("not executable: {e}")))?;
    let own = FileStamp::of(Path::new(OWN_BINARY))?;
    if (own.dev, own.ino) == (stamp.dev, stamp.ino) {
        return Ok(stamp);
    }
    let theirs = build_id(path).map_err(|e| refused(path, e.to_string()))?;
    let ours = build_id(Path::new(OWN_BINARY))?;
    match (ours, theirs) {
        (Some(ours), Some(theirs)) if ours == theirs => Ok(stamp),
        (Some(ours), Some(theirs)) => Err(refused(
            path,
            format!(
                "not this program: its build id is {}, this program's is {}",
                hex(&theirs),
                hex(&ours)
            ),
        )),
        _ if same_bytes(Path::new(OWN_BINARY), path)? => Ok(stamp),
        _ => Err(refused(
            path,
            "not this program (it is not an ELF file with this program's build id, \
             nor a copy of this program's binary)",
        )),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two files hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    let (mut a, mut b) = (File::open(a)?, File::open(b)?);
    if a.metadata()?.len() != b.metadata()?.len() {
        return Ok(false);
    }
    let (mut x, mut y) = (vec![0; 1 << 20], vec![0; 1 << 20]);
    loop {
        let n = a.read(&mut x)?;
        if n == 0 {
            return Ok(true);
        }
        b.read_exact(&mut y[..n])?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// The GNU build id of an ELF file (the `NT_GNU_BUILD_ID` note of a
/// `PT_NOTE` segment); `None` if it has none or is not ELF.
fn build_id(path: &Path) -> io::Result<Option<Vec<u8>>> {
    const PT_NOTE: u32 = 4;
    const NT_GNU_BUILD_ID: u32 = 3;
    let file = File::open(path)?;
    let mut header = [0u8; 64];
    let n = file.read_at(&mut header, 0)?;
    if n < 52 || &header[..4] != b"\x7fELF" {
        return Ok(None);
    }
    let (wide, little) = (header[4] == 2, header[5] == 1);
    let u16_at = |b: &[u8], at: usize| {
        let v = [b[at], b[at + 1]];
        if little {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |b: &[u8], at: usize| {
        let v = b[at..at + 4].try_into().expect("4 bytes");
        if little {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let u64_at = |b: &[u8], at: usize| {
        let v = b[at..at + 8].try_into().expect("8 bytes");
        if little {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        }
    };
    let (phoff, phentsize, phnum) = if wide {
        (
            u64_at(&header, 0x20),
            u16_at(&header, 0x36),
            u16_at(&header, 0x38),
        )
    } else {
        (
            u64::from(u32_at(&header, 0x1c)),
            u16_at(&header, 0x2a),
            u16_at(&header, 0x2c),
        )
    };
    let mut entry = vec![0u8; usize::from(phentsize).max(32)];
    for i in 0..u64::from(phnum) {
        file.read_exact_at(
            &mut entry[..usize::from(phentsize)],
            phoff + i * u64::from(phentsize),
        )?;
        if u32_at(&entry, 0) != PT_NOTE {
            continue;
        }
        let (offset, size) = if wide {
            (u64_at(&entry, 8), u64_at(&entry, 0x20))
        } else {
            (u64::from(u32_at(&entry, 4)), u64::from(u32_at(&entry, 16)))
        };
        let mut notes = vec![0u8; usize::try_from(size.min(1 << 16)).unwrap_or(0)];
        file.read_exact_at(&mut notes, offset)?;
        let mut at = 0;
        while at + 12 <= notes.len() {
            let (namesz, descsz, kind) = (
                u32_at(&notes, at) as usize,
                u32_at(&notes, at + 4) as usize,
                u32_at(&notes, at + 8),
            );
            let name = at + 12;
            let desc = name + namesz.next_multiple_of(4);
            let end = desc + descsz.next_multiple_of(4);
            if end > notes.len() || desc + descsz > notes.len() {
                break;
            }
            if kind == NT_GNU_BUILD_ID && notes[name..name + namesz] == *b"GNU\0" {
                return Ok(Some(notes[desc..desc + descsz].to_vec()));
            }
            at = end;
        }
    }
    Ok(None)
}
