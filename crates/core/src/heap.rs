//! Giving an idle thread's free memory back to the system.
//!
//! mimalloc (the server's allocator) purges the pages a thread freed only
//! when that thread allocates or frees again: a runtime thread that goes
//! quiet after a burst keeps them resident. [`trim`] purges them at once.
//! Built with the `mimalloc` feature (which `sluice serve` enables); a
//! no-op without it, or when mimalloc is not the global allocator (its
//! own heap is then empty).
#![allow(unsafe_code)]

/// Returns the calling thread's free memory to the system.
pub fn trim() {
    #[cfg(feature = "mimalloc")]
    // SAFETY: mi_collect takes no pointer and has no precondition; it
    // only walks and purges this thread's own heap.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}
