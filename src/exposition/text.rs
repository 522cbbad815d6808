//! The assembled exposition's memory: a sealed in-memory file (memfd), mapped read-only, so that
//! the server can hand it to the kernel with `sendfile` (no copy through user space, as nginx
//! serves a file) while everything else reads it as ordinary bytes. Where memfds are not
//! available, plain heap memory.
//!
//! A text is written once, front to back, then sealed (no write, no resize) before it is mapped
//! for reading: the one `unsafe` mapping below rests on that. Live texts are registered by address, so the server can tell that a slice it is about
//! to write lies in one, and where.

use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;
use memmap2::{Mmap, MmapOptions};
use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};

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

/// Writes a text front to back, into a memfd (sealed and mapped when done) where the system
/// allows it, else into heap memory. Written through `write`, so no writable mapping is needed.
#[derive(Debug)]
pub struct Writer {
    sink: Sink,
    len: usize,
}

#[derive(Debug)]
enum Sink {
    File(BufWriter<File>),
    Heap(Vec<u8>),
}

/// How much a text writer buffers between `write` calls.
const WRITE_BUFFER: usize = 256 * 1024;

impl Writer {
    pub fn new() -> Writer {
        let sink = match memfd() {
            Ok(file) => Sink::File(BufWriter::with_capacity(WRITE_BUFFER, file)),
            Err(error) => {
                tracing::debug!(%error, "no memory file; the exposition stays on the heap");
                Sink::Heap(Vec::new())
            }
        };
        Writer { sink, len: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.len
    }

    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.sink {
            Sink::File(file) => file.write_all(bytes)?,
            Sink::Heap(buffer) => buffer.extend_from_slice(bytes),
        }
        self.len += bytes.len();
        Ok(())
    }

    /// The text written: a sealed, mapped memfd, or heap bytes.
    pub fn finish(self) -> io::Result<Bytes> {
        let file = match self.sink {
            Sink::Heap(buffer) => return Ok(Bytes::from(buffer)),
            Sink::File(file) => file.into_inner().map_err(|e| e.into_error())?,
        };
        if self.len == 0 {
            return Ok(Bytes::new());
        }
        fcntl_add_seals(
            &file,
            SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
        )?;
        let text = Arc::new(SealedText {
            map: map_for_reading(&file)?,
            file,
        });
        let (base, len) = text.range();
        live().push((base, len, Arc::downgrade(&text)));
        Ok(Bytes::from_owner(Shared(text)))
    }
}

impl Writer {
    /// A writer to heap memory, for when a memory file cannot be written.
    pub fn heap() -> Writer {
        Writer {
            sink: Sink::Heap(Vec::new()),
            len: 0,
        }
    }
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

/// `data` as a text of its own (a sealed memfd where possible), so that it too is sent without
/// copying; the data itself where that fails.
pub fn copy(data: &[u8]) -> Bytes {
    let mut writer = Writer::new();
    match writer.write(data).and_then(|()| writer.finish()) {
        Ok(text) => text,
        Err(error) => {
            tracing::warn!(%error, "cannot write to a memory file; keeping the bytes on the heap");
            Bytes::copy_from_slice(data)
        }
    }
}

fn memfd() -> io::Result<File> {
    let fd = memfd_create(
        "bedrock-exposition",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    Ok(File::from(fd))
}

#[allow(unsafe_code)]
fn map_for_reading(file: &File) -> io::Result<Mmap> {
    // SAFETY: the file is a memfd created by this module and sealed against writes and resizing
    // (F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW, then F_SEAL_SEAL) before this call: its
    // contents cannot change for as long as this mapping lives. Populated at once: the next
    // assembly reads it all, and one fault for all is cheaper than one each.
    unsafe { MmapOptions::new().populate().map(file) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_sealed_mapped_and_found_by_address() {
        let text = copy(&[b'x'; 10_000]);
        assert_eq!(text.len(), 10_000);
        assert!(text.iter().all(|b| *b == b'x'));
        let (sealed, offset) = find(&text[100..200]).expect("a sealed text");
        assert_eq!(offset, 100);
        let mut file = sealed.file.try_clone().unwrap();
        assert!(file.write_all(b"y").is_err(), "sealed against writes");
        assert!(find(b"elsewhere").is_none());
        drop(sealed);
        drop(text);
        assert!(live().is_empty() || !live().iter().any(|(_, len, _)| *len == 10_000));
    }
}
