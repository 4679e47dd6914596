//! Line data that ingest put in shared memory (`RawLines.shared` in the proto): a file in tmpfs
//! that ingest writes and this stage maps read-only, so the lines are parsed where they are
//! instead of arriving through the socket, HTTP/2 frames and a message buffer.
//!
//! Safety of reading in place: ingest writes into a region again only after this stage has
//! acknowledged the batch that used it, and it acknowledges a batch only once its work on the
//! lines is done and the result (a copy) has been handed downstream. Each stream gets a file of
//! its own, so a file is never written for another stream while this one reads it.

use std::ffi::CString;
use std::sync::Arc;

use bytes::Bytes;
use tonic::Status;

use crate::pb::{RawLines, SharedSlice};

/// The only place a shared file may be: tmpfs, with the name ingest gives its rings.
pub const SHARED_PREFIX: &str = "/dev/shm/modular-runtime-ingest-";

/// A file mapped read-only; unmapped when the last slice of it goes.
struct Mapping {
    ptr: *const u8,
    len: usize,
}

// The mapping is read-only memory that lives until Drop: any thread may read it.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are what mmap returned, unmapped once.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

/// A byte range of a mapping, for `Bytes::from_owner`.
struct Slice {
    map: Arc<Mapping>,
    offset: usize,
    len: usize,
}

impl AsRef<[u8]> for Slice {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the range was checked against the mapping's length, which the Arc keeps alive.
        unsafe { std::slice::from_raw_parts(self.map.ptr.add(self.offset), self.len) }
    }
}

/// The shared files one stream uses (in practice one), mapped on first use.
#[derive(Default)]
pub struct SharedFiles {
    maps: Vec<(String, Arc<Mapping>)>,
}

/// Streams keep at most this many files mapped (a stream uses one).
const MAX_MAPPED: usize = 2;

impl SharedFiles {
    /// Files mapped now.
    pub fn mapped(&self) -> usize {
        self.maps.len()
    }

    /// Replaces `raw.shared` by the bytes it names, as `raw.data`: a view of the mapping, or a
    /// copy with `copy` (for a batch passed on as it is, which the downstream's encoder reads
    /// only after this stage has acknowledged it). Without `shared`, does nothing. Errors name
    /// `stage`, the batch's `trace` id and the bad value.
    pub fn resolve(
        &mut self,
        stage: &str,
        trace: u64,
        raw: &mut RawLines,
        copy: bool,
        max_bytes: usize,
    ) -> Result<(), Status> {
        let Some(s) = raw.shared.take() else { return Ok(()) };
        // The batch is named only in an error, so that no message is made for every batch.
        self.take(s, raw, copy, max_bytes)
            .map_err(|e| Status::new(e.code(), format!("{stage}: batch {trace}: {}", e.message())))
    }

    /// `resolve` for a batch with the slice `s`; errors without the stage and batch.
    fn take(&mut self, s: SharedSlice, raw: &mut RawLines, copy: bool, max_bytes: usize) -> Result<(), Status> {
        if !raw.data.is_empty() {
            return Err(Status::invalid_argument("has both line data and a shared slice"));
        }
        let name = s.path.strip_prefix(SHARED_PREFIX).unwrap_or("");
        if name.is_empty() || name.contains('/') || name.contains('\0') {
            return Err(Status::invalid_argument(format!(
                "shared-memory path {:?} is not a file {SHARED_PREFIX}…",
                s.path
            )));
        }
        if s.length > max_bytes as u64 {
            return Err(Status::resource_exhausted(format!(
                "shared slice of {} bytes is larger than the {max_bytes} bytes a batch may carry",
                s.length
            )));
        }
        let map = self
            .map(&s.path)
            .map_err(|e| Status::failed_precondition(format!("cannot map shared-memory file {:?}: {e}", s.path)))?;
        let end = s.offset.checked_add(s.length);
        if end.is_none_or(|e| e > map.len as u64) {
            return Err(Status::invalid_argument(format!(
                "shared slice [{}, +{}) is outside {:?} ({} bytes)",
                s.offset, s.length, s.path, map.len
            )));
        }
        let slice = Slice { map, offset: s.offset as usize, len: s.length as usize };
        raw.data = if copy { Bytes::copy_from_slice(slice.as_ref()) } else { Bytes::from_owner(slice) };
        Ok(())
    }

    fn map(&mut self, path: &str) -> std::io::Result<Arc<Mapping>> {
        if let Some((_, m)) = self.maps.iter().find(|(p, _)| p == path) {
            return Ok(m.clone());
        }
        let m = Arc::new(map_file(path)?);
        if self.maps.len() >= MAX_MAPPED {
            self.maps.remove(0);
        }
        self.maps.push((path.to_string(), m.clone()));
        Ok(m)
    }
}

fn map_file(path: &str) -> std::io::Result<Mapping> {
    let c = CString::new(path).map_err(|_| std::io::Error::other("path holds a NUL byte"))?;
    // SAFETY: plain libc calls on a NUL-terminated path; the descriptor is closed on every path
    // (the mapping stays valid without it).
    unsafe {
        let fd = libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            libc::close(fd);
            return Err(std::io::Error::other("not a regular file"));
        }
        let len = st.st_size as usize;
        if len == 0 {
            libc::close(fd);
            return Err(std::io::Error::other("the file is empty"));
        }
        let ptr = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd, 0);
        let e = std::io::Error::last_os_error();
        libc::close(fd);
        if ptr == libc::MAP_FAILED {
            return Err(e);
        }
        Ok(Mapping { ptr: ptr as *const u8, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct TempShm(String);
    impl TempShm {
        fn new(tag: &str, bytes: &[u8]) -> TempShm {
            let path = format!("{SHARED_PREFIX}test-{}-{tag}", std::process::id());
            std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
            TempShm(path)
        }
    }
    impl Drop for TempShm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn raw(path: &str, offset: u64, length: u64) -> RawLines {
        RawLines {
            data: Bytes::new(),
            line_numbers: Bytes::new(),
            shared: Some(SharedSlice { path: path.to_string(), offset, length }),
        }
    }

    #[test]
    fn a_slice_reads_the_bytes_in_place_and_a_copy_survives_the_mapping() {
        let f = TempShm::new("read", b"xxxx{\"a\":1}\n{\"b\":2}\nyy");
        let mut files = SharedFiles::default();
        let mut r = raw(&f.0, 4, 16);
        files.resolve("parse", 7, &mut r, false, 1 << 20).unwrap();
        assert_eq!(&r.data[..], b"{\"a\":1}\n{\"b\":2}\n");
        assert!(r.shared.is_none());
        let mut c = raw(&f.0, 12, 8);
        files.resolve("parse", 8, &mut c, true, 1 << 20).unwrap();
        assert_eq!(files.mapped(), 1, "the second batch uses the mapping the first made");
        drop(files);
        drop(f);
        // the view keeps its mapping alive after the cache and the file's name are gone
        assert_eq!(&r.data[..], b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(&c.data[..], b"{\"b\":2}\n");
    }

    #[test]
    fn bad_slices_are_refused_naming_the_batch_and_the_value() {
        let f = TempShm::new("bad", b"0123456789");
        let mut files = SharedFiles::default();
        let err = files.resolve("parse", 3, &mut raw(&f.0, 8, 3), false, 1 << 20).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("batch 3") && err.message().contains("[8, +3)"), "{}", err.message());
        let err = files.resolve("parse", 4, &mut raw(&f.0, u64::MAX, 2), false, 1 << 20).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        for path in ["/etc/passwd", "/dev/shm/other", &format!("{SHARED_PREFIX}../x"), SHARED_PREFIX] {
            let err = files.resolve("parse", 5, &mut raw(path, 0, 1), false, 1 << 20).unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{path}");
            assert!(err.message().contains(&format!("{path:?}")), "{}", err.message());
        }
        let missing = format!("{SHARED_PREFIX}test-{}-missing", std::process::id());
        let err = files.resolve("parse", 6, &mut raw(&missing, 0, 1), false, 1 << 20).unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
        assert!(err.message().contains("No such file"), "{}", err.message());
        let err = files.resolve("parse", 7, &mut raw(&f.0, 0, 10), false, 9).unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        let mut both = raw(&f.0, 0, 1);
        both.data = Bytes::from_static(b"{}\n");
        let err = files.resolve("parse", 8, &mut both, false, 1 << 20).unwrap_err();
        assert!(err.message().contains("both"), "{}", err.message());
        // a batch without a shared slice is left as it is
        let mut plain = RawLines { data: Bytes::from_static(b"{}\n"), ..Default::default() };
        files.resolve("parse", 9, &mut plain, false, 1 << 20).unwrap();
        assert_eq!(&plain.data[..], b"{}\n");
    }
}
