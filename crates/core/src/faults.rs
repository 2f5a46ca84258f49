//! Injected I/O errors, for tests only. In debug builds, the environment
//! variable `SLUICE_FAULTS` (read once) makes a share of the store's data
//! reads, data writes, fsyncs and publishes (the link or rename that makes
//! a write visible) fail with EIO, for example
//! `SLUICE_FAULTS=read=0.05,write=0.05,fsync=0.1,rename=0.1,seed=7`.
//! Release builds compile none of it: [`inject`] is a constant `None`.
//!
//! What the tests check with it (tests/compat/test_faults.py): an injected
//! error fails the request with an error and leaves the key as it was;
//! nothing reads back other bytes than were written; nothing panics.

use std::io;

/// The operations a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultOp {
    Read = 0,
    Write = 1,
    Fsync = 2,
    Rename = 3,
}

/// An error for `op` when the fault plan draws one.
#[cfg(debug_assertions)]
pub(crate) fn inject(op: FaultOp) -> Option<io::Error> {
    let plan = plan::get()?;
    let p = plan.share[op as usize];
    (p > 0.0 && plan::draw() < p)
        .then(|| io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error()))
}

/// No faults in release builds.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn inject(_op: FaultOp) -> Option<io::Error> {
    None
}

/// [`inject`] as a `Result`, for `?`.
pub(crate) fn check(op: FaultOp) -> io::Result<()> {
    inject(op).map_or(Ok(()), Err)
}

/// The plan in force, for a server to say so at startup (debug builds
/// with `SLUICE_FAULTS` set).
#[must_use]
pub fn active() -> Option<String> {
    #[cfg(debug_assertions)]
    {
        plan::get().map(|p| p.text.clone())
    }
    #[cfg(not(debug_assertions))]
    {
        None
    }
}

#[cfg(debug_assertions)]
mod plan {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    pub(super) struct Plan {
        /// Share of operations failed, by `FaultOp`.
        pub share: [f64; 4],
        pub seed: u64,
        pub text: String,
    }

    static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
    static THREADS: AtomicU64 = AtomicU64::new(0);

    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn get() -> Option<&'static Plan> {
        PLAN.get_or_init(|| std::env::var("SLUICE_FAULTS").ok().and_then(|t| parse(&t)))
            .as_ref()
    }

    fn parse(text: &str) -> Option<Plan> {
        let mut plan = Plan {
            share: [0.0; 4],
            seed: 1,
            text: text.to_owned(),
        };
        for item in text.split(',').filter(|i| !i.is_empty()) {
            let (name, value) = item.split_once('=')?;
            let slot = match name.trim() {
                "read" => 0,
                "write" => 1,
                "fsync" => 2,
                "rename" => 3,
                "seed" => {
                    plan.seed = value.trim().parse().ok()?;
                    continue;
                }
                _ => return None,
            };
            plan.share[slot] = value.trim().parse::<f64>().ok()?.clamp(0.0, 1.0);
        }
        Some(plan)
    }

    /// A number in [0, 1) from this thread's xorshift stream (seeded from
    /// the plan and the thread's turn to ask).
    pub(super) fn draw() -> f64 {
        STATE.with(|s| {
            let mut x = s.get();
            if x == 0 {
                let turn = THREADS.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
                let seed = get().map_or(1, |p| p.seed);
                x = (seed ^ turn.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            (x >> 11) as f64 / (1u64 << 53) as f64
        })
    }

    #[cfg(test)]
    mod tests {
        use super::parse;

        #[test]
        fn plans() {
            let p = parse("read=0.5,write=1,fsync=0,rename=2,seed=9").unwrap();
            assert_eq!(p.share, [0.5, 1.0, 0.0, 1.0]);
            assert_eq!(p.seed, 9);
            assert!(parse("reed=0.5").is_none());
            assert!(parse("read=x").is_none());
            assert!(parse("").is_some());
        }
    }
}
