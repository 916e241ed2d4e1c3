//! The build fingerprint: what makes a function name mean the same code on
//! every host. It is the GNU build-id the linker wrote into the executable
//! (`ld --build-id`, on by default on Debian and most distributions), or
//! the SHA-256 of the executable file when there is none.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// This executable's fingerprint, as hex (computed once).
pub fn build_fingerprint() -> &'static str {
    static FINGERPRINT: OnceLock<String> = OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        let exe = "/proc/self/exe";
        match File::open(exe).and_then(|mut f| gnu_build_id(&mut f)) {
            Ok(Some(id)) => format!("gnu-{}", hex(&id)),
            _ => match std::fs::read(exe) {
                Ok(bytes) => format!("sha256-{}", hex(&Sha256::digest(&bytes))),
                // No way to tell builds apart: a fingerprint no other
                // process shares, so every cross-process task is refused
                // rather than run on a guess.
                Err(_) => format!("unknown-{:016x}", crate::random_u64()),
            },
        }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_at(file: &mut File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The `NT_GNU_BUILD_ID` note of a little-endian ELF64 file, if any.
fn gnu_build_id(file: &mut File) -> std::io::Result<Option<Vec<u8>>> {
    const PT_NOTE: u32 = 4;
    const NT_GNU_BUILD_ID: u32 = 3;
    let header = read_at(file, 0, 64)?;
    // ELF magic, 64-bit, little-endian.
    if header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Ok(None);
    }
    let (phoff, phentsize, phnum) = (
        u64_at(&header, 32),
        u16_at(&header, 54) as u64,
        u16_at(&header, 56) as u64,
    );
    if phentsize < 56 || phnum > 4096 {
        return Ok(None);
    }
    let table = read_at(file, phoff, (phentsize * phnum) as usize)?;
    for i in 0..phnum as usize {
        let ph = &table[i * phentsize as usize..];
        if u32_at(ph, 0) != PT_NOTE {
            continue;
        }
        let (offset, size) = (u64_at(ph, 8), u64_at(ph, 32));
        if size > 1 << 20 {
            continue;
        }
        let notes = read_at(file, offset, size as usize)?;
        let mut at = 0usize;
        while at + 12 <= notes.len() {
            let namesz = u32_at(&notes, at) as usize;
            let descsz = u32_at(&notes, at + 4) as usize;
            let kind = u32_at(&notes, at + 8);
            let name_at = at + 12;
            let desc_at = name_at + namesz.next_multiple_of(4);
            let end = desc_at + descsz.next_multiple_of(4);
            if end > notes.len() + 3 || desc_at + descsz > notes.len() {
                break;
            }
            if kind == NT_GNU_BUILD_ID && notes[name_at..name_at + namesz] == *b"GNU\0" {
                return Ok(Some(notes[desc_at..desc_at + descsz].to_vec()));
            }
            at = end;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_has_a_stable_gnu_build_id() {
        let fp = build_fingerprint();
        assert!(fp.starts_with("gnu-"), "{fp}");
        assert!(fp.len() > 4 + 16, "{fp}");
        assert_eq!(fp, build_fingerprint());
        // The same as readelf would print, read a second time from the file.
        let mut f = File::open("/proc/self/exe").unwrap();
        assert_eq!(
            fp,
            format!("gnu-{}", hex(&gnu_build_id(&mut f).unwrap().unwrap()))
        );
    }
}
