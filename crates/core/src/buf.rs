//! Aligned buffers for O_DIRECT and io_uring, and a per-thread pool of them.
//!
//! One buffer carries bytes from the socket, through hashing, to an O_DIRECT
//! write (and back for reads): its memory is aligned to [`ALIGN`] and its
//! capacity is a multiple of it, as O_DIRECT requires. This is the only
//! module of the crate with `unsafe` code.
#![allow(unsafe_code)]

use std::alloc::{alloc, dealloc, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;
use std::rc::Rc;

/// Alignment of buffer memory, file offsets and lengths for O_DIRECT: 4 KiB,
/// the logical block size of current disks and the page size.
pub const ALIGN: usize = 4096;

/// Default buffer size: 1 MiB, large enough that per-I/O costs vanish.
pub const DEFAULT_BUF_SIZE: usize = 1 << 20;

/// An owned, [`ALIGN`]-aligned byte buffer with a fixed capacity and an
/// initialised length, usable with monoio's owned-buffer I/O.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    cap: usize,
    len: usize,
    pool: Option<Rc<PoolInner>>,
}

impl AlignedBuf {
    /// A buffer of `capacity` bytes rounded up to a multiple of [`ALIGN`]
    /// (at least one block), zero-filled.
    ///
    /// # Panics
    /// When the allocation fails (out of memory), as `Vec` does.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let cap = capacity.max(1).next_multiple_of(ALIGN);
        let layout = layout(cap);
        // SAFETY: `layout` has a non-zero size (cap >= ALIGN) and a valid
        // power-of-two alignment; the memory is zeroed below before any read.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY: `ptr` points to `cap` freshly allocated bytes we own.
        unsafe { ptr.as_ptr().write_bytes(0, cap) };
        AlignedBuf {
            ptr,
            cap,
            len: 0,
            pool: None,
        }
    }

    /// Capacity in bytes (a multiple of [`ALIGN`]).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Initialised length.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is initialised.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The initialised bytes.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialised (all `cap` bytes are:
        // the buffer is zero-filled at allocation) and owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The whole capacity, for filling in place; pair with [`Self::set_len`].
    #[must_use]
    pub fn spare_mut(&mut self) -> &mut [u8] {
        // SAFETY: all `cap` bytes were zero-initialised at allocation and
        // are owned exclusively through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }

    /// Sets the initialised length, clamped to the capacity.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.cap);
    }

    /// Appends bytes; returns how many fitted.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.cap - self.len);
        let start = self.len;
        self.spare_mut()[start..start + n].copy_from_slice(&data[..n]);
        self.len += n;
        n
    }

    /// Zero-fills from the length up to the next multiple of [`ALIGN`] and
    /// extends the length there, so that the buffer can be written with
    /// O_DIRECT. Returns the padded length.
    pub fn pad_to_block(&mut self) -> usize {
        let padded = self.len.next_multiple_of(ALIGN).min(self.cap);
        let len = self.len;
        self.spare_mut()[len..padded].fill(0);
        self.len = padded;
        padded
    }
}

fn layout(cap: usize) -> Layout {
    match Layout::from_size_align(cap, ALIGN) {
        Ok(l) => l,
        // Only reachable with capacities near isize::MAX.
        Err(_) => panic!("buffer capacity {cap} is too large"),
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let mut free = pool.free.borrow_mut();
            if self.cap == pool.size && free.len() < pool.max_cached {
                free.push(self.ptr);
                return;
            }
        }
        // SAFETY: `ptr` was allocated in `new` with exactly `layout(cap)` and
        // is not referenced anywhere else once the buffer is dropped.
        unsafe { dealloc(self.ptr.as_ptr(), layout(self.cap)) };
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

// SAFETY: `read_ptr` points to `bytes_init()` initialised bytes that stay
// valid and unmoved while the buffer is owned by an in-flight operation
// (the heap allocation does not move with the struct).
unsafe impl monoio::buf::IoBuf for AlignedBuf {
    fn read_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len
    }
}

// SAFETY: `write_ptr` points to `bytes_total()` writable bytes owned by the
// buffer; the allocation is stable while an operation holds the buffer.
unsafe impl monoio::buf::IoBufMut for AlignedBuf {
    fn write_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn bytes_total(&mut self) -> usize {
        self.cap
    }

    unsafe fn set_init(&mut self, pos: usize) {
        self.len = pos.min(self.cap);
    }
}

struct PoolInner {
    size: usize,
    max_cached: usize,
    free: RefCell<Vec<NonNull<u8>>>,
}

impl PoolInner {
    /// Frees every cached buffer.
    fn release(&self) {
        let cached = std::mem::take(&mut *self.free.borrow_mut());
        for ptr in cached {
            // SAFETY: every cached pointer came from a dropped `AlignedBuf`
            // of capacity `size`, allocated with `layout(size)`, and left
            // the cache here, so nothing else refers to it.
            unsafe { dealloc(ptr.as_ptr(), layout(self.size)) };
        }
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        self.release();
    }
}

/// A per-thread pool of buffers of one size. Buffers taken from it go back
/// to it when dropped, up to `max_cached` of them; the rest are freed, so an
/// idle thread holds at most `max_cached * size` bytes.
#[derive(Clone)]
pub struct BufPool {
    inner: Rc<PoolInner>,
}

impl std::fmt::Debug for BufPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufPool")
            .field("size", &self.inner.size)
            .field("cached", &self.inner.free.borrow().len())
            .finish()
    }
}

impl BufPool {
    /// A pool of buffers of `size` bytes (rounded up to [`ALIGN`]) that keeps
    /// at most `max_cached` free buffers.
    #[must_use]
    pub fn new(size: usize, max_cached: usize) -> Self {
        BufPool {
            inner: Rc::new(PoolInner {
                size: size.max(1).next_multiple_of(ALIGN),
                max_cached,
                free: RefCell::new(Vec::new()),
            }),
        }
    }

    /// Buffer size of the pool.
    #[must_use]
    pub fn buf_size(&self) -> usize {
        self.inner.size
    }

    /// Free buffers held.
    #[must_use]
    pub fn cached(&self) -> usize {
        self.inner.free.borrow().len()
    }

    /// Frees the buffers the pool keeps (an idle thread's memory back to
    /// the allocator); buffers in use still come back to it.
    pub fn release_cached(&self) {
        self.inner.release();
    }

    /// A buffer with length 0 (its bytes may hold an earlier user's data).
    #[must_use]
    pub fn get(&self) -> AlignedBuf {
        let cached = self.inner.free.borrow_mut().pop();
        let mut buf = match cached {
            Some(ptr) => AlignedBuf {
                ptr,
                cap: self.inner.size,
                len: 0,
                pool: None,
            },
            None => AlignedBuf::new(self.inner.size),
        };
        buf.pool = Some(Rc::clone(&self.inner));
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_padding_and_reuse() {
        let pool = BufPool::new(10_000, 2);
        assert_eq!(pool.buf_size(), 12_288);
        let mut a = pool.get();
        assert_eq!(a.as_slice().as_ptr() as usize % ALIGN, 0);
        assert_eq!(a.extend_from_slice(b"hello"), 5);
        assert_eq!(a.pad_to_block(), ALIGN);
        assert_eq!(&a.as_slice()[..6], b"hello\0");
        let addr = a.as_slice().as_ptr();
        drop(a);
        assert_eq!(pool.cached(), 1);
        let b = pool.get();
        assert_eq!(b.as_slice().as_ptr(), addr, "the freed buffer is reused");
        assert!(b.is_empty());
        let (c, d, e) = (pool.get(), pool.get(), pool.get());
        drop((b, c, d, e));
        assert_eq!(pool.cached(), 2, "at most max_cached are kept");
    }

    #[test]
    fn released_buffers_are_freed_and_buffers_in_use_still_come_back() {
        let pool = BufPool::new(ALIGN, 4);
        let (a, b, c) = (pool.get(), pool.get(), pool.get());
        drop((a, b));
        assert_eq!(pool.cached(), 2);
        pool.release_cached();
        assert_eq!(pool.cached(), 0);
        drop(c);
        assert_eq!(
            pool.cached(),
            1,
            "a buffer in use at the release comes back"
        );
        let d = pool.get();
        assert_eq!(d.capacity(), ALIGN);
        assert_eq!(pool.cached(), 0);
    }

    #[test]
    fn extend_stops_at_capacity() {
        let mut a = AlignedBuf::new(1);
        assert_eq!(a.capacity(), ALIGN);
        assert_eq!(a.extend_from_slice(&[7u8; 5000]), ALIGN);
        assert_eq!(a.len(), ALIGN);
        assert_eq!(a.pad_to_block(), ALIGN);
    }
}
