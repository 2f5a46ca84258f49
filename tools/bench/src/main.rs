//! sluice-bench: a small warp-style S3 load generator.
//!
//! ```text
//! sluice-bench WORKLOAD --endpoint http://127.0.0.1:9000 --access-key K --secret-key S
//!              [--bucket B] [--size BYTES[KiB|MiB|GiB]] [--count N] [--concurrency C]
//!              [--sign-payload] [--prefix P]
//! WORKLOAD: put | get | list | delete | all (put, get, list, delete in order)
//! ```
//!
//! Each worker thread keeps one HTTP/1.1 connection alive and runs its share
//! of the operations; requests are signed with sluice-sigv4 (UNSIGNED-PAYLOAD
//! unless --sign-payload, which sends the body's SHA-256 as s5cmd does).
//! Prints operations per second, MB/s and latency percentiles per workload.

mod client;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{Client, Target};

struct Options {
    workload: String,
    target: Target,
    bucket: String,
    size: u64,
    count: u64,
    concurrency: u64,
    sign_payload: bool,
    prefix: String,
}

const USAGE: &str = "usage: sluice-bench put|get|list|delete|all --endpoint URL --access-key K --secret-key S [--bucket B] [--size N[KiB|MiB|GiB]] [--count N] [--concurrency C] [--sign-payload] [--prefix P]";

fn parse_size(text: &str) -> Option<u64> {
    let (num, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let n: u64 = num.parse().ok()?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn parse() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let workload = args
        .next()
        .filter(|w| ["put", "get", "list", "delete", "all"].contains(&w.as_str()))
        .ok_or(USAGE)?;
    let (mut endpoint, mut access, mut secret) = (None, None, None);
    let mut o = Options {
        workload,
        target: Target::default(),
        bucket: "sluice-bench".into(),
        size: 4096,
        count: 1000,
        concurrency: 8,
        sign_payload: false,
        prefix: "obj".into(),
    };
    while let Some(flag) = args.next() {
        if flag == "--sign-payload" {
            o.sign_payload = true;
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--endpoint" => endpoint = Some(value),
            "--access-key" => access = Some(value),
            "--secret-key" => secret = Some(value),
            "--bucket" => o.bucket = value,
            "--size" => {
                o.size =
                    parse_size(&value).ok_or("--size takes bytes, with an optional KiB/MiB/GiB")?
            }
            "--count" => o.count = value.parse().map_err(|_| "--count takes a number")?,
            "--concurrency" => {
                o.concurrency = value
                    .parse::<u64>()
                    .map_err(|_| "--concurrency takes a number")?
                    .max(1)
            }
            "--prefix" => o.prefix = value,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    let endpoint = endpoint.ok_or("--endpoint is required")?;
    let host = endpoint
        .strip_prefix("http://")
        .ok_or("--endpoint must be http://HOST:PORT")?
        .trim_end_matches('/')
        .to_owned();
    o.target = Target {
        host,
        creds: sluice_sigv4::Credentials::new(
            &access.ok_or("--access-key is required")?,
            &secret.ok_or("--secret-key is required")?,
        ),
    };
    Ok(o)
}

/// Latency percentiles of a run, in microseconds.
fn report(name: &str, ops: u64, bytes: u64, elapsed: Duration, mut latencies: Vec<u64>) {
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    let secs = elapsed.as_secs_f64();
    println!(
        "{name:<7} {ops:>8} ops in {secs:>7.2} s  {:>10.1} ops/s  {:>9.1} MB/s  latency µs p50 {:>7} p90 {:>7} p99 {:>7} max {:>7}",
        ops as f64 / secs,
        bytes as f64 / secs / 1e6,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies.last().copied().unwrap_or(0)
    );
}

/// Runs `op(client, index)` for indexes 0..count over `concurrency` threads.
fn run<F>(o: &Options, name: &str, count: u64, op: F) -> Result<(), String>
where
    F: Fn(&mut Client, u64) -> Result<u64, String> + Send + Sync + 'static + Clone,
{
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..o.concurrency.min(count.max(1)) {
        let (next, op, target) = (Arc::clone(&next), op.clone(), o.target.clone());
        handles.push(std::thread::spawn(
            move || -> Result<(u64, Vec<u64>), String> {
                let mut client = Client::new(target);
                let (mut bytes, mut lat) = (0u64, Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return Ok((bytes, lat));
                    }
                    let t = Instant::now();
                    bytes += op(&mut client, i)?;
                    lat.push(t.elapsed().as_micros() as u64);
                }
            },
        ));
    }
    let (mut bytes, mut latencies) = (0, Vec::new());
    for h in handles {
        let (b, l) = h.join().map_err(|_| "a worker panicked".to_owned())??;
        bytes += b;
        latencies.extend(l);
    }
    report(
        name,
        latencies.len() as u64,
        bytes,
        start.elapsed(),
        latencies,
    );
    Ok(())
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = workloads(&o) {
        eprintln!("sluice-bench: {e}");
        std::process::exit(1);
    }
}

fn workloads(o: &Options) -> Result<(), String> {
    let mut setup = Client::new(o.target.clone());
    let status = setup
        .request("PUT", &format!("/{}", o.bucket), &[], false)?
        .0;
    if !(status == 200 || status == 409) {
        return Err(format!("cannot create bucket {}: HTTP {status}", o.bucket));
    }
    let all = o.workload == "all";
    let key = {
        let (bucket, prefix) = (o.bucket.clone(), o.prefix.clone());
        move |i: u64| format!("/{bucket}/{prefix}/{i:08}")
    };
    if all || o.workload == "put" {
        let body = Arc::new(
            (0..o.size)
                .map(|i| (i * 131 % 251) as u8)
                .collect::<Vec<u8>>(),
        );
        let (key, sign) = (key.clone(), o.sign_payload);
        run(o, "PUT", o.count, move |c, i| {
            let (status, _) = c.request("PUT", &key(i), &body, sign)?;
            if status != 200 {
                return Err(format!("PUT answered {status}"));
            }
            Ok(body.len() as u64)
        })?;
    }
    if all || o.workload == "get" {
        let key = key.clone();
        run(o, "GET", o.count, move |c, i| {
            let (status, len) = c.request("GET", &key(i), &[], false)?;
            if status != 200 {
                return Err(format!("GET answered {status}"));
            }
            Ok(len)
        })?;
    }
    if all || o.workload == "list" {
        let (bucket, prefix) = (o.bucket.clone(), o.prefix.clone());
        let mut client = Client::new(o.target.clone());
        let start = Instant::now();
        let (mut keys, mut pages, mut token, mut lat) = (0u64, 0u64, String::new(), Vec::new());
        loop {
            let mut query = format!("list-type=2&max-keys=1000&prefix={prefix}%2F");
            if !token.is_empty() {
                query.push_str(&format!("&continuation-token={token}"));
            }
            let t = Instant::now();
            let body = client.get_body(&format!("/{bucket}"), &query)?;
            lat.push(t.elapsed().as_micros() as u64);
            pages += 1;
            keys += body.matches("<Key>").count() as u64;
            match body
                .split_once("<NextContinuationToken>")
                .and_then(|(_, r)| r.split_once('<'))
            {
                Some((next, _)) => token = next.to_owned(),
                None => break,
            }
        }
        report("LIST", pages, 0, start.elapsed(), lat);
        println!(
            "        {keys} keys listed: {:.2} µs per key",
            start.elapsed().as_secs_f64() * 1e6 / keys.max(1) as f64
        );
    }
    if all || o.workload == "delete" {
        let key = key.clone();
        run(o, "DELETE", o.count, move |c, i| {
            let (status, _) = c.request("DELETE", &key(i), &[], false)?;
            if status != 204 {
                return Err(format!("DELETE answered {status}"));
            }
            Ok(0)
        })?;
    }
    Ok(())
}
