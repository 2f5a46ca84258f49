//! The audit spool: events as lines of JSON in numbered segment files
//! (`00000001.ndjson`, ...) in a directory of this node's, appended by the
//! request threads and read by the delivery thread, which keeps how far it
//! delivered in `cursor` (segment and offset, replaced atomically).
//!
//! An event is appended (one `write(2)` under a short lock, into the page
//! cache) before the next request of its connection is read: a killed
//! server has lost none of the events of the requests it answered. Each
//! start writes a new segment, so a line a killed writer left half written
//! is at the end of a segment no one appends to any more, and is skipped.
//! Segments the deliverer finished are removed. Past `cap` bytes of
//! undelivered segments new events are dropped, and counted.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Segment length at which writers move to the next one.
const SEGMENT: u64 = 16 << 20;

fn seg_name(n: u64) -> String {
    format!("{n:08}.ndjson")
}

/// Segment numbers in `dir`, ascending.
fn segments(dir: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".ndjson")?
                .parse()
                .ok()
        })
        .collect();
    out.sort_unstable();
    out
}

struct Writer {
    file: File,
    seq: u64,
    len: u64,
}

/// A node's spool, shared by its threads.
pub struct Spool {
    dir: PathBuf,
    /// None for a spool adopted to be drained (no one writes it).
    writer: Mutex<Option<Writer>>,
    cap: u64,
    /// Bytes of events not yet delivered.
    pub bytes: AtomicU64,
    /// Length at which writers move to the next segment.
    segment: u64,
    /// Write errors logged (one line per power of two).
    errors_logged: AtomicU64,
    /// Events dropped because the spool was full.
    pub dropped: AtomicU64,
    /// Events appended.
    pub appended: AtomicU64,
    /// Events delivered.
    pub delivered: AtomicU64,
    /// No segment before this one is left.
    oldest: AtomicU64,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn open_segment(dir: &Path, seq: u64) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join(seg_name(seq)))
}

impl Spool {
    /// Opens (creating) the spool in `dir` and starts a new segment.
    ///
    /// # Errors
    /// The directory cannot be made or written.
    pub fn open(dir: &Path, cap: u64) -> Result<Self, String> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create the audit spool {}: {e}", dir.display()))?;
        let existing = segments(dir);
        let seq = existing.last().map_or(1, |n| n.saturating_add(1));
        let file = open_segment(dir, seq)
            .map_err(|e| format!("cannot write the audit spool {}: {e}", dir.display()))?;
        // Segments end when a quarter of the cap is in them (or 16 MiB):
        // delivered segments go, so a small cap still takes events.
        let oldest = existing.first().copied().unwrap_or(seq);
        Ok(Spool::new(
            dir,
            Some(Writer { file, seq, len: 0 }),
            cap,
            (cap / 4).clamp(64 << 10, SEGMENT),
            oldest,
        ))
    }

    /// Opens another node's spool in `dir` to deliver what it holds (no
    /// new segment; nothing is appended to it).
    ///
    /// # Errors
    /// Never in practice (kept for symmetry with [`Spool::open`]).
    pub fn adopt(dir: &Path) -> Result<Self, String> {
        let oldest = segments(dir).first().copied().unwrap_or(0);
        Ok(Spool::new(dir, None, u64::MAX, SEGMENT, oldest))
    }

    /// A spool of `dir` with its undelivered bytes counted from the cursor.
    fn new(dir: &Path, writer: Option<Writer>, cap: u64, segment: u64, oldest: u64) -> Self {
        let spool = Spool {
            dir: dir.to_owned(),
            writer: Mutex::new(writer),
            cap,
            segment,
            bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            appended: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            oldest: AtomicU64::new(oldest),
            errors_logged: AtomicU64::new(0),
        };
        let (cs, co) = spool.cursor();
        spool
            .bytes
            .store(spool.undelivered(cs, co), Ordering::Relaxed);
        spool
    }

    /// Whether the spool holds no segment.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        segments(&self.dir).is_empty()
    }

    /// Bytes in the segments from `(seq, offset)` on.
    fn undelivered(&self, seq: u64, offset: u64) -> u64 {
        segments(&self.dir)
            .into_iter()
            .filter(|n| *n >= seq)
            .filter_map(|n| {
                let len = fs::metadata(self.dir.join(seg_name(n))).ok()?.len();
                Some(if n == seq {
                    len.saturating_sub(offset)
                } else {
                    len
                })
            })
            .sum()
    }

    /// Appends one event (a line without its newline). False when it was
    /// dropped (the spool is full, or cannot be written: logged).
    #[cfg(test)]
    pub fn append(&self, line: &str) -> bool {
        let mut data = Vec::with_capacity(line.len() + 1);
        data.extend_from_slice(line.as_bytes());
        data.push(b'\n');
        self.append_lines(&data, 1)
    }

    /// Appends `count` events (lines, each with its newline) in one write.
    /// False when they were dropped (the spool is full, or cannot be
    /// written: logged).
    pub fn append_lines(&self, data: &[u8], count: u64) -> bool {
        let len = data.len() as u64;
        if self.bytes.load(Ordering::Relaxed).saturating_add(len) > self.cap {
            let n = self.dropped.fetch_add(count, Ordering::Relaxed);
            if (n + count).is_power_of_two() || n == 0 {
                tracing::error!(
                    dropped = n + count,
                    dir = %self.dir.display(),
                    "the audit spool is full: events are dropped until the webhook takes them"
                );
            }
            return false;
        }
        let Ok(mut guard) = self.writer.lock() else {
            return false;
        };
        let Some(w) = guard.as_mut() else {
            return false;
        };
        if w.len >= self.segment {
            let next = w.seq.saturating_add(1);
            match open_segment(&self.dir, next) {
                Ok(f) => {
                    *w = Writer {
                        file: f,
                        seq: next,
                        len: 0,
                    };
                }
                Err(e) => tracing::error!(error = %e, "cannot start an audit spool segment"),
            }
        }
        match w.file.write_all(data) {
            Ok(()) => {
                w.len = w.len.saturating_add(len);
                drop(guard);
                self.bytes.fetch_add(len, Ordering::Relaxed);
                self.appended.fetch_add(count, Ordering::Relaxed);
                true
            }
            Err(e) => {
                // No part of these lines stays (the next ones would be glued
                // to it): the segment goes back to its length before.
                let _ = w.file.set_len(w.len);
                drop(guard);
                self.dropped.fetch_add(count, Ordering::Relaxed);
                let n = self.errors_logged.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::error!(error = %e, errors = n, "cannot write the audit spool: events are dropped");
                }
                false
            }
        }
    }

    /// The segment being written now.
    fn writing(&self) -> u64 {
        self.writer
            .lock()
            .ok()
            .and_then(|w| w.as_ref().map(|w| w.seq))
            .unwrap_or(u64::MAX)
    }

    fn cursor_path(&self) -> PathBuf {
        self.dir.join("cursor")
    }

    /// Where delivery stands: segment and byte offset in it.
    #[must_use]
    pub fn cursor(&self) -> (u64, u64) {
        let text = fs::read_to_string(self.cursor_path()).unwrap_or_default();
        let mut it = text
            .split_whitespace()
            .filter_map(|w| w.parse::<u64>().ok());
        match (it.next(), it.next()) {
            (Some(s), Some(o)) => (s, o),
            _ => (segments(&self.dir).first().copied().unwrap_or(1), 0),
        }
    }

    /// Records delivery up to `(seq, offset)`, and removes the segments
    /// before `seq`. The cursor is one fixed-length line rewritten in
    /// place (one write within a block: no new file per batch).
    ///
    /// # Errors
    /// The cursor cannot be written.
    pub fn commit(&self, seq: u64, offset: u64, events: u64, bytes: u64) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt as _;
        let line = format!("{seq:020} {offset:020}\n");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.cursor_path())?;
        f.write_all_at(line.as_bytes(), 0)?;
        self.delivered.fetch_add(events, Ordering::Relaxed);
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(bytes))
            });
        if self.oldest.load(Ordering::Relaxed) < seq {
            for n in segments(&self.dir).into_iter().filter(|n| *n < seq) {
                let _ = fs::remove_file(self.dir.join(seg_name(n)));
            }
            self.oldest.store(seq, Ordering::Relaxed);
            // Counted again from the files (torn lines skipped at the ends
            // of segments are not delivered bytes).
            self.bytes
                .store(self.undelivered(seq, offset), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Up to `max` whole events from `(seq, offset)` on (lines, each with
    /// its newline, as stored), how many, and where the next read starts.
    /// Moves past the end of a finished segment (one no longer written; a
    /// half line a killed writer left there is skipped).
    #[must_use]
    pub fn read(&self, seq: u64, offset: u64, max: usize) -> (Vec<u8>, usize, (u64, u64)) {
        let mut out = Vec::new();
        let mut count = 0usize;
        let (mut seq, mut offset) = (seq, offset);
        loop {
            let writing = self.writing();
            let path = self.dir.join(seg_name(seq));
            let Ok(mut f) = File::open(&path) else {
                // Gone or never written: on to the next one there is.
                match segments(&self.dir).into_iter().find(|n| *n > seq) {
                    Some(n) if n <= writing => {
                        seq = n;
                        offset = 0;
                        continue;
                    }
                    _ => return (out, count, (seq, offset)),
                }
            };
            // About 2 KiB an event is read ahead; more while not even one
            // whole line came (an event can be long).
            let mut limit = (max.saturating_sub(count) as u64)
                .saturating_mul(2048)
                .max(1 << 16);
            let mut buf = Vec::with_capacity(usize::try_from(limit).unwrap_or(1 << 16));
            if f.seek(SeekFrom::Start(offset)).is_err() {
                return (out, count, (seq, offset));
            }
            loop {
                let before = buf.len();
                let want = limit.saturating_sub(before as u64);
                if (&mut f).take(want).read_to_end(&mut buf).is_err() {
                    return (out, count, (seq, offset));
                }
                let short = ((buf.len() - before) as u64) < want;
                if short || memchr::memchr(b'\n', &buf).is_some() {
                    break;
                }
                limit = limit.saturating_mul(2);
            }
            // Whole lines only, at most as many as wanted.
            let want = max.saturating_sub(count);
            let (mut lines, mut used) = (0usize, 0usize);
            for at in memchr::memchr_iter(b'\n', &buf) {
                if lines == want {
                    break;
                }
                lines += 1;
                used = at + 1;
            }
            let read = buf.len();
            let rest_has_line = memchr::memchr(b'\n', &buf[used..]).is_some();
            let taken = &buf[..used];
            // Empty lines (none are written) would make empty events.
            if taken.first() == Some(&b'\n') || memchr::memmem::find(taken, b"\n\n").is_some() {
                for line in taken
                    .split_inclusive(|&b| b == b'\n')
                    .filter(|l| l.len() > 1)
                {
                    out.extend_from_slice(line);
                    count += 1;
                }
            } else if out.is_empty() {
                // The common case: the lines as read, not copied again.
                count += lines;
                buf.truncate(used);
                out = buf;
            } else {
                count += lines;
                out.extend_from_slice(taken);
            }
            offset += used as u64;
            let finished = seq < writing;
            let read_all = (read as u64) < limit;
            let at_end = read_all && (used == read || (finished && !rest_has_line));
            if count >= max || !finished || !at_end {
                return (out, count, (seq, offset));
            }
            // A finished segment read to its end (but for a torn line).
            seq += 1;
            offset = 0;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn appended_events_are_read_in_order_across_restarts_and_torn_lines_are_skipped() {
        let dir = std::env::temp_dir().join(format!("sluice-spool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let s = Spool::open(&dir, 1 << 30).unwrap();
        for i in 0..5 {
            assert!(s.append(&format!("{{\"n\":{i}}}")));
        }
        let (_, n, (seq, off)) = s.read(1, 0, 3);
        assert_eq!(n, 3);
        s.commit(seq, off, 3, 24).unwrap();
        // A half-written line at the end of the segment (a killed writer).
        drop(s);
        OpenOptions::new()
            .append(true)
            .open(dir.join(seg_name(1)))
            .unwrap()
            .write_all(b"{\"torn")
            .unwrap();
        let s = Spool::open(&dir, 1 << 30).unwrap();
        assert!(s.append("{\"n\":5}"));
        let (seq, off) = s.cursor();
        let (got, n, next) = s.read(seq, off, 100);
        assert_eq!(n, 3);
        assert_eq!(got, b"{\"n\":3}\n{\"n\":4}\n{\"n\":5}\n");
        s.commit(next.0, next.1, 3, 24).unwrap();
        assert_eq!(segments(&dir), vec![2], "the finished segment is removed");
        let (got, n, _) = s.read(next.0, next.1, 100);
        assert!(got.is_empty() && n == 0);
        // A cap: past it, events are dropped and counted.
        let small = Spool::open(&dir.join("small"), 20).unwrap();
        assert!(small.append("0123456789"));
        assert!(!small.append("0123456789"));
        assert_eq!(small.dropped.load(Ordering::Relaxed), 1);
        let _ = fs::remove_dir_all(&dir);
    }
}
