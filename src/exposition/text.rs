//! The assembled exposition's memory: a sealed in-memory file (memfd), mapped read-only, so that
//! the server can hand it to the kernel with `sendfile` (no copy through user space, as nginx
//! serves a file) while everything else reads it as ordinary bytes. Where memfds are not
//! available, plain heap memory.
//!
//! A text is written once, through a writable mapping of a file nobody else has, then sealed
//! (no write, no resize) before it is mapped for reading: the two `unsafe` mappings below rest on
//! that. Live texts are registered by address, so the server can tell that a slice it is about
//! to write lies in one, and where.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;
use memmap2::{Mmap, MmapMut, MmapOptions};
use rustix::fs::{fcntl_add_seals, ftruncate, memfd_create, MemfdFlags, SealFlags};

/// A sealed, read-only mapped memfd holding one exposition.
#[derive(Debug)]
pub struct SealedText {
    map: Mmap,
    file: File,
}

impl SealedText {
    /// The file, for `sendfile`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    fn range(&self) -> (usize, usize) {
        (self.map.as_ptr() as usize, self.map.len())
    }
}

impl Drop for SealedText {
    fn drop(&mut self) {
        let (base, _) = self.range();
        live().retain(|(b, _, _)| *b != base);
    }
}

/// `Bytes` over a shared text.
struct Shared(Arc<SealedText>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0.map
    }
}

/// The live texts: base address, length, and the text.
type Registry = Vec<(usize, usize, Weak<SealedText>)>;

fn live() -> std::sync::MutexGuard<'static, Registry> {
    static LIVE: Mutex<Registry> = Mutex::new(Vec::new());
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The text `bytes` lies in, and the offset of its start there, if it lies in one.
pub fn find(bytes: &[u8]) -> Option<(Arc<SealedText>, u64)> {
    let start = bytes.as_ptr() as usize;
    let end = start + bytes.len();
    let live = live();
    let (base, _, text) = live
        .iter()
        .find(|(base, len, _)| *base <= start && end <= base + len && !bytes.is_empty())?;
    Some((text.upgrade()?, (start - base) as u64))
}

/// A buffer of exactly `len` bytes filled by `fill`, as a sealed text if the system allows it,
/// else on the heap.
pub fn write(len: usize, fill: impl FnOnce(&mut [u8])) -> Bytes {
    if len == 0 {
        return Bytes::new();
    }
    let mut fill = Some(fill);
    match sealed(len, &mut fill) {
        Ok(text) => {
            let text = Arc::new(text);
            let (base, len) = text.range();
            live().push((base, len, Arc::downgrade(&text)));
            Bytes::from_owner(Shared(text))
        }
        Err(error) => {
            tracing::debug!(%error, "no sealed memory file; the exposition stays on the heap");
            let mut buffer = vec![0; len];
            if let Some(fill) = fill.take() {
                fill(&mut buffer);
            }
            Bytes::from(buffer)
        }
    }
}

fn sealed(len: usize, fill: &mut Option<impl FnOnce(&mut [u8])>) -> io::Result<SealedText> {
    let fd = memfd_create(
        "bedrock-exposition",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    ftruncate(&fd, len as u64)?;
    let file = File::from(fd);
    {
        let mut map = map_for_writing(&file)?;
        if let Some(fill) = fill.take() {
            fill(&mut map);
        }
    }
    fcntl_add_seals(
        &file,
        SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
    )?;
    let map = map_for_reading(&file)?;
    Ok(SealedText { map, file })
}

#[allow(unsafe_code)]
fn map_for_writing(file: &File) -> io::Result<MmapMut> {
    // SAFETY: the file is a memfd this function's caller just created, close-on-exec and never
    // shared: nothing else can change or resize it while this mapping lives. Populated at once:
    // every page is written, and one fault for all is cheaper than one each.
    unsafe { MmapOptions::new().populate().map_mut(file) }
}

#[allow(unsafe_code)]
fn map_for_reading(file: &File) -> io::Result<Mmap> {
    // SAFETY: the file is sealed against writes and resizing (F_SEAL_WRITE, F_SEAL_SHRINK,
    // F_SEAL_GROW, then F_SEAL_SEAL), and no writable mapping of it remains: its contents cannot
    // change for as long as this mapping lives. Populated at once: the next assembly reads it all.
    unsafe { MmapOptions::new().populate().map(file) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_sealed_mapped_and_found_by_address() {
        let text = write(10_000, |buffer| buffer.fill(b'x'));
        assert_eq!(text.len(), 10_000);
        assert!(text.iter().all(|b| *b == b'x'));
        let (sealed, offset) = find(&text[100..200]).expect("a sealed text");
        assert_eq!(offset, 100);
        let mut file = sealed.file.try_clone().unwrap();
        use std::io::Write as _;
        assert!(file.write_all(b"y").is_err(), "sealed against writes");
        assert!(find(b"elsewhere").is_none());
        drop(sealed);
        drop(text);
        assert!(live().is_empty() || !live().iter().any(|(_, len, _)| *len == 10_000));
    }
}
