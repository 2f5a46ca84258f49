//! The MD5 of every body a runtime thread receives, hashed side by side.
//!
//! A body's [`BodyMd5`] hands each buffer to its thread's hasher and waits.
//! The first buffer of a turn of the runtime spawns one pass, which runs
//! after the tasks already woken in that turn: every body whose buffer
//! filled meanwhile joins it, and [`md5x::hash_streams`] advances them all
//! in SIMD lanes (or each alone when too few have data, so a lone body
//! costs what it did). The busier the thread, the more bodies a pass
//! holds: while one pass hashes, other sockets fill.
//!
//! [`set_side_by_side`]`(false)` makes every update hash at once, alone
//! (the code path before this module; kept for comparison).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Poll, Waker};

use crate::buf::AlignedBuf;
use crate::md5x::{self, Engine, Stream};

static SIDE_BY_SIDE: AtomicBool = AtomicBool::new(true);
static PASSES: AtomicU64 = AtomicU64::new(0);
static BYTES_SIDE_BY_SIDE: AtomicU64 = AtomicU64::new(0);
static BYTES_ALONE: AtomicU64 = AtomicU64::new(0);

/// Whether bodies are hashed side by side (true, the default) or each at
/// once, alone, in its own task (for comparison).
pub fn set_side_by_side(on: bool) {
    SIDE_BY_SIDE.store(on, Ordering::Relaxed);
}

/// What the hashers of every thread did since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HasherStats {
    /// Passes run (each over the buffers of one turn).
    pub passes: u64,
    /// Bytes hashed in SIMD lanes, side by side.
    pub bytes_side_by_side: u64,
    /// Bytes hashed alone (by a pass with too few bodies, or with side by
    /// side off).
    pub bytes_alone: u64,
}

/// The counts of every thread's hasher.
#[must_use]
pub fn stats() -> HasherStats {
    HasherStats {
        passes: PASSES.load(Ordering::Relaxed),
        bytes_side_by_side: BYTES_SIDE_BY_SIDE.load(Ordering::Relaxed),
        bytes_alone: BYTES_ALONE.load(Ordering::Relaxed),
    }
}

/// One body's place in the queue: its stream, the buffer being hashed,
/// and who waits for it.
#[derive(Default)]
struct Job {
    stream: RefCell<Stream>,
    buf: RefCell<Option<AlignedBuf>>,
    /// In the queue of a pass to come.
    queued: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// This thread's queue: the jobs of the pass to come.
struct Queue {
    jobs: RefCell<Vec<Rc<Job>>>,
    scheduled: Cell<bool>,
    engine: Engine,
}

thread_local! {
    static QUEUE: Rc<Queue> = Rc::new(Queue {
        jobs: RefCell::new(Vec::new()),
        scheduled: Cell::new(false),
        engine: md5x::engine(),
    });
}

/// Clears `scheduled` when the pass's task ends, run or not.
struct Unschedule(Rc<Queue>);

impl Drop for Unschedule {
    fn drop(&mut self) {
        self.0.scheduled.set(false);
    }
}

/// Hashes every queued buffer in one call and wakes their bodies.
fn pass(queue: &Queue) {
    queue.scheduled.set(false);
    let jobs = std::mem::take(&mut *queue.jobs.borrow_mut());
    {
        let mut streams: Vec<_> = jobs.iter().map(|j| j.stream.borrow_mut()).collect();
        let bufs: Vec<_> = jobs.iter().map(|j| j.buf.borrow()).collect();
        let mut work: Vec<(&mut Stream, &[u8])> = streams
            .iter_mut()
            .zip(&bufs)
            .map(|(s, b)| (&mut **s, b.as_ref().map_or(&[][..], AlignedBuf::as_slice)))
            .collect();
        let done = md5x::hash_streams(queue.engine, &mut work);
        PASSES.fetch_add(1, Ordering::Relaxed);
        BYTES_SIDE_BY_SIDE.fetch_add(done.side_by_side, Ordering::Relaxed);
        BYTES_ALONE.fetch_add(done.alone, Ordering::Relaxed);
    }
    for job in jobs {
        job.queued.set(false);
        if let Some(w) = job.waker.take() {
            w.wake();
        }
    }
}

/// What `update` returns if its buffer were gone, which cannot be: only
/// `update` takes it, after the pass.
#[cold]
fn buf_gone() -> AlignedBuf {
    AlignedBuf::new(crate::buf::ALIGN)
}

/// The MD5 of one body, hashed by its thread's hasher (see the module
/// documentation). Must be used on a monoio runtime.
#[derive(Default)]
pub struct BodyMd5 {
    job: Rc<Job>,
}

impl std::fmt::Debug for BodyMd5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyMd5")
            .field("len", &self.job.stream.borrow().len())
            .finish()
    }
}

impl BodyMd5 {
    /// A body with nothing hashed.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Hashes `buf` (in this turn's pass, with the other bodies of this
    /// thread that have a buffer) and gives it back.
    pub async fn update(&mut self, buf: AlignedBuf) -> AlignedBuf {
        if buf.is_empty() {
            return buf;
        }
        if !SIDE_BY_SIDE.load(Ordering::Relaxed) {
            self.job.stream.borrow_mut().update(buf.as_slice());
            BYTES_ALONE.fetch_add(buf.len() as u64, Ordering::Relaxed);
            return buf;
        }
        // A cancelled update left its buffer queued: that pass first.
        self.hashed().await;
        *self.job.buf.borrow_mut() = Some(buf);
        self.job.queued.set(true);
        let queue = QUEUE.with(Rc::clone);
        queue.jobs.borrow_mut().push(Rc::clone(&self.job));
        if !queue.scheduled.replace(true) {
            // Spawned tasks run after those already woken: the bodies whose
            // buffers filled in this turn join the pass first. A pass
            // dropped unrun (its runtime ended) unschedules itself, so that
            // a later runtime on this thread schedules its own.
            let unschedule = Unschedule(Rc::clone(&queue));
            monoio::spawn(async move { pass(&unschedule.0) });
        }
        self.hashed().await;
        // The pass leaves the buffer in place.
        self.job.buf.borrow_mut().take().unwrap_or_else(buf_gone)
    }

    /// Waits until this body is in no pass to come.
    async fn hashed(&self) {
        std::future::poll_fn(|cx| {
            if self.job.queued.get() {
                *self.job.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
    }

    /// Bytes hashed so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.job.stream.borrow().len()
    }

    /// Whether nothing was hashed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The digest of what was hashed.
    #[must_use]
    pub fn digest(&self) -> [u8; 16] {
        self.job.stream.borrow().digest()
    }
}
