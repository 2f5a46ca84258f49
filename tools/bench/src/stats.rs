//! Operation records and what is reported of them: throughput (average and
//! per-second segments), latency percentiles, time to first byte, errors by
//! S3 code; as text, JSON, or a CSV of every operation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::procfs::Cost;

/// Operation kinds, as warp names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// PutObject.
    Put,
    /// GetObject.
    Get,
    /// HeadObject.
    Stat,
    /// DeleteObject.
    Delete,
    /// One page of ListObjectsV2.
    List,
    /// A whole multipart upload (create, parts, complete).
    Multipart,
}

impl Op {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "PUT",
            Op::Get => "GET",
            Op::Stat => "STAT",
            Op::Delete => "DELETE",
            Op::List => "LIST",
            Op::Multipart => "MULTIPART",
        }
    }
}

/// One operation.
#[derive(Clone, Debug)]
pub struct Record {
    /// Kind.
    pub op: Op,
    /// Client thread.
    pub thread: u16,
    /// Start and end, nanoseconds since the measured phase began.
    pub start: u64,
    /// End.
    pub end: u64,
    /// First byte of the response, nanoseconds since the phase began.
    pub first_byte: Option<u64>,
    /// Payload bytes moved.
    pub bytes: u64,
    /// Objects handled (keys listed for LIST).
    pub objects: u64,
    /// The S3 error code (or transport error) of a failed operation.
    pub error: Option<String>,
}

/// Latency figures in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    /// Mean.
    pub avg: f64,
    /// Percentiles.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 99th.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    fn of(mut micros: Vec<f64>) -> Option<Self> {
        if micros.is_empty() {
            return None;
        }
        micros.sort_by(f64::total_cmp);
        let pct = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize];
        Some(Latency {
            avg: micros.iter().sum::<f64>() / micros.len() as f64,
            p50: pct(0.5),
            p90: pct(0.9),
            p99: pct(0.99),
            max: micros[micros.len() - 1],
        })
    }
}

/// Throughput of one second of the run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Segment {
    /// MiB/s.
    pub mib_s: f64,
    /// Objects per second.
    pub obj_s: f64,
}

/// What is reported of one operation kind.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Kind.
    pub op: Op,
    /// Successful operations.
    pub ops: u64,
    /// Payload bytes of the successful ones.
    pub bytes: u64,
    /// Objects handled.
    pub objects: u64,
    /// Seconds of the measured phase.
    pub seconds: f64,
    /// Averages over the phase.
    pub avg: Segment,
    /// Per-second segments: fastest, median, slowest (by bytes, or by
    /// objects when no bytes move).
    pub segments: Option<[Segment; 3]>,
    /// Latency.
    pub latency: Option<Latency>,
    /// Time to first byte (GET).
    pub ttfb: Option<Latency>,
    /// Failures by code.
    pub errors: BTreeMap<String, u64>,
}

/// Summaries per kind of the records of a phase `seconds` long.
pub fn summarize(records: &[Record], seconds: f64) -> Vec<Summary> {
    let mut kinds: Vec<Op> = records.iter().map(|r| r.op).collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .into_iter()
        .map(|op| summarize_op(op, records, seconds))
        .collect()
}

fn summarize_op(op: Op, records: &[Record], seconds: f64) -> Summary {
    let mine: Vec<&Record> = records.iter().filter(|r| r.op == op).collect();
    let ok: Vec<&&Record> = mine.iter().filter(|r| r.error.is_none()).collect();
    let mut errors = BTreeMap::new();
    for r in &mine {
        if let Some(code) = &r.error {
            *errors.entry(code.clone()).or_insert(0) += 1;
        }
    }
    let bytes: u64 = ok.iter().map(|r| r.bytes).sum();
    let objects: u64 = ok.iter().map(|r| r.objects).sum();
    let secs = seconds.max(1e-9);
    let avg = Segment {
        mib_s: bytes as f64 / (1 << 20) as f64 / secs,
        obj_s: objects as f64 / secs,
    };
    let lat = Latency::of(ok.iter().map(|r| (r.end - r.start) as f64 / 1e3).collect());
    let ttfb = Latency::of(
        ok.iter()
            .filter_map(|r| r.first_byte.map(|f| (f - r.start) as f64 / 1e3))
            .collect(),
    );
    // One-second segments; each operation's bytes and objects are spread
    // over the seconds it spanned, in proportion (as warp does), so that
    // multi-second transfers do not land whole in the second they ended.
    // The last partial second is left out unless it is the only one.
    let whole = (seconds.floor() as usize).max(1);
    let mut seg = vec![Segment::default(); whole];
    for r in &ok {
        let (start, end) = (r.start as f64 / 1e9, r.end as f64 / 1e9);
        let span = (end - start).max(1e-9);
        let mib = r.bytes as f64 / (1 << 20) as f64;
        let first = start.floor() as usize;
        let last = (end.floor() as usize)
            .min(whole.saturating_sub(1))
            .max(first);
        for (s, slot) in seg.iter_mut().enumerate().take(last + 1).skip(first) {
            let overlap = (end.min(s as f64 + 1.0) - start.max(s as f64)).max(0.0);
            let share = if end <= start { 1.0 } else { overlap / span };
            slot.mib_s += mib * share;
            slot.obj_s += r.objects as f64 * share;
        }
    }
    let segments = if ok.is_empty() {
        None
    } else if seconds < 1.0 {
        // Shorter than one second: the run is its only segment.
        Some([avg; 3])
    } else {
        let by_bytes = bytes > 0;
        seg.sort_by(|a, b| {
            let (x, y) = if by_bytes {
                (a.mib_s, b.mib_s)
            } else {
                (a.obj_s, b.obj_s)
            };
            y.total_cmp(&x)
        });
        Some([seg[0], seg[seg.len() / 2], seg[seg.len() - 1]])
    };
    Summary {
        op,
        ops: ok.len() as u64,
        bytes,
        objects,
        seconds,
        avg,
        segments,
        latency: lat,
        ttfb,
        errors,
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2}s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{us:.0}µs")
    }
}

fn fmt_lat(l: &Latency) -> String {
    format!(
        "avg {}, 50% {}, 90% {}, 99% {}, max {}",
        fmt_us(l.avg),
        fmt_us(l.p50),
        fmt_us(l.p90),
        fmt_us(l.p99),
        fmt_us(l.max)
    )
}

/// The human report.
pub fn text(summaries: &[Summary], cost: &Cost, concurrent: usize, generated: u64) -> String {
    let mut out = String::new();
    for s in summaries {
        let _ = writeln!(
            out,
            "\n----------------------------------------\nOperation: {}. Concurrency: {concurrent}. Ran {:.1}s.",
            s.op.name(),
            s.seconds
        );
        let _ = writeln!(
            out,
            " * Average: {:.2} MiB/s, {:.2} obj/s ({} ops, {} objects)",
            s.avg.mib_s, s.avg.obj_s, s.ops, s.objects
        );
        if let Some([fast, median, slow]) = s.segments {
            let _ = writeln!(
                out,
                " * Throughput by second: fastest {:.2} MiB/s, {:.2} obj/s; median {:.2} MiB/s, {:.2} obj/s; slowest {:.2} MiB/s, {:.2} obj/s",
                fast.mib_s, fast.obj_s, median.mib_s, median.obj_s, slow.mib_s, slow.obj_s
            );
        }
        if let Some(l) = &s.latency {
            let _ = writeln!(out, " * Latency: {}", fmt_lat(l));
        }
        if let (Op::Get, Some(t)) = (s.op, &s.ttfb) {
            let _ = writeln!(out, " * TTFB: {}", fmt_lat(t));
        }
        for (code, n) in &s.errors {
            let _ = writeln!(out, " * Errors: {n} x {code}");
        }
    }
    let total_ops: u64 = summaries.iter().map(|s| s.ops).sum();
    let total_bytes: u64 = summaries.iter().map(|s| s.bytes).sum();
    let _ = writeln!(out, "\n----------------------------------------");
    if let Some(cpu) = cost.server_cpu {
        let _ = write!(out, "Server CPU: {cpu:.2} s");
        if total_ops > 0 {
            let _ = write!(out, ", {:.1} µs/op", cpu * 1e6 / total_ops as f64);
        }
        if total_bytes > 0 {
            let _ = write!(
                out,
                ", {:.3} s/GiB",
                cpu / (total_bytes as f64 / (1u64 << 30) as f64)
            );
        }
        if let Some(rss) = cost.server_peak_rss_kib {
            let _ = write!(out, "; peak RSS {:.1} MiB", rss as f64 / 1024.0);
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "Client CPU: {:.2} s; other processes: {:.2} s CPU over {:.1} s",
        cost.client_cpu, cost.other_cpu, cost.seconds
    );
    if generated > 0 {
        let _ = writeln!(
            out,
            "{generated} GETs were answered with generated bytes (sluice serve --null): sizes checked, contents not verified"
        );
    }
    out
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".into()
    }
}

fn json_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "null".into(), json_num)
}

fn json_lat(l: &Option<Latency>) -> String {
    match l {
        None => "null".into(),
        Some(l) => format!(
            "{{\"avg_us\":{},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{}}}",
            json_num(l.avg),
            json_num(l.p50),
            json_num(l.p90),
            json_num(l.p99),
            json_num(l.max)
        ),
    }
}

fn json_seg(s: &Segment) -> String {
    format!(
        "{{\"mib_s\":{},\"obj_s\":{}}}",
        json_num(s.mib_s),
        json_num(s.obj_s)
    )
}

/// The machine report: one JSON object.
pub fn json(
    bench: &str,
    summaries: &[Summary],
    cost: &Cost,
    concurrent: usize,
    generated: u64,
) -> String {
    let ops: Vec<String> = summaries
        .iter()
        .map(|s| {
            let errors: Vec<String> = s
                .errors
                .iter()
                .map(|(k, v)| format!("{}:{v}", json_str(k)))
                .collect();
            let segments = s.segments.map_or_else(
                || "null".into(),
                |[f, m, sl]| {
                    format!(
                        "{{\"fastest\":{},\"median\":{},\"slowest\":{}}}",
                        json_seg(&f),
                        json_seg(&m),
                        json_seg(&sl)
                    )
                },
            );
            format!(
                "{{\"op\":{},\"ops\":{},\"bytes\":{},\"objects\":{},\"seconds\":{},\"average\":{},\"segments\":{segments},\"latency\":{},\"ttfb\":{},\"errors\":{{{}}}}}",
                json_str(s.op.name()),
                s.ops,
                s.bytes,
                s.objects,
                json_num(s.seconds),
                json_seg(&s.avg),
                json_lat(&s.latency),
                json_lat(&s.ttfb),
                errors.join(",")
            )
        })
        .collect();
    format!(
        "{{\"benchmark\":{},\"concurrent\":{concurrent},\"seconds\":{},\"operations\":[{}],\"server_cpu_s\":{},\"server_peak_rss_kib\":{},\"client_cpu_s\":{},\"other_cpu_s\":{},\"generated_gets\":{generated}}}",
        json_str(bench),
        json_num(cost.seconds),
        ops.join(","),
        json_opt(cost.server_cpu),
        cost.server_peak_rss_kib
            .map_or_else(|| "null".into(), |v| v.to_string()),
        json_num(cost.client_cpu),
        json_num(cost.other_cpu),
    )
}

/// A CSV field, quoted when it holds a comma, quote or newline.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Every operation, one CSV line each.
pub fn csv(records: &[Record]) -> String {
    let mut out =
        String::from("op,thread,start_ns,end_ns,duration_ns,first_byte_ns,bytes,objects,error\n");
    for r in records {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            r.op.name(),
            r.thread,
            r.start,
            r.end,
            r.end - r.start,
            r.first_byte.map_or_else(String::new, |f| f.to_string()),
            r.bytes,
            r.objects,
            csv_field(r.error.as_deref().unwrap_or(""))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(op: Op, start_ms: u64, end_ms: u64, bytes: u64, error: Option<&str>) -> Record {
        Record {
            op,
            thread: 0,
            start: start_ms * 1_000_000,
            end: end_ms * 1_000_000,
            first_byte: Some(start_ms * 1_000_000 + 500_000),
            bytes,
            objects: 1,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn summary_counts_segments_latency_and_errors() {
        let mut records = Vec::new();
        // Second 0: 10 ops of 1 MiB; second 1: 20 ops; second 2: 5 ops.
        for (second, n) in [(0u64, 10u64), (1, 20), (2, 5)] {
            for i in 0..n {
                let end = second * 1000 + 10 + i * 10;
                records.push(rec(Op::Get, end - 10, end, 1 << 20, None));
            }
        }
        records.push(rec(Op::Get, 5, 7, 0, Some("NoSuchKey")));
        records.push(rec(Op::Put, 5, 7, 4096, None));
        let s = summarize(&records, 3.0);
        assert_eq!(s.len(), 2);
        let get = s.iter().find(|s| s.op == Op::Get).unwrap();
        assert_eq!(get.ops, 35);
        assert_eq!(get.bytes, 35 << 20);
        assert_eq!(get.errors.get("NoSuchKey"), Some(&1));
        let [fast, median, slow] = get.segments.unwrap();
        assert_eq!(fast.mib_s, 20.0);
        assert_eq!(median.mib_s, 10.0);
        assert_eq!(slow.mib_s, 5.0);
        let lat = get.latency.unwrap();
        assert!((lat.avg - 10_000.0).abs() < 1.0, "{lat:?}");
        assert!((get.ttfb.unwrap().p50 - 500.0).abs() < 1.0);
        let text = text(&s, &Cost::default(), 4, 0);
        assert!(text.contains("Operation: GET"), "{text}");
        assert!(text.contains("1 x NoSuchKey"), "{text}");
        let json = json("get", &s, &Cost::default(), 4, 0);
        assert!(json.contains("\"errors\":{\"NoSuchKey\":1}"), "{json}");
        let csv = csv(&records);
        assert_eq!(csv.lines().count(), records.len() + 1);
        assert!(csv.contains("GET,0,5000000,7000000,2000000,5500000,0,1,NoSuchKey"));
        assert_eq!(
            csv_field("VerifyFailed: 5 bytes, expected \"10\""),
            "\"VerifyFailed: 5 bytes, expected \"\"10\"\"\""
        );
        // A 2 s transfer of 2 MiB is spread over the two seconds it spans.
        let long = [rec(Op::Put, 500, 2500, 2 << 20, None)];
        let s = summarize(&long, 3.0);
        let [fast, _, slow] = s[0].segments.unwrap();
        assert!((fast.mib_s - 1.0).abs() < 1e-6, "{fast:?}");
        assert!((slow.mib_s - 0.5).abs() < 1e-6, "{slow:?}");
    }
}
