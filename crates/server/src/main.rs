//! `sluice`: the S3 server binary and, as they come, the admin commands of
//! a sluice cluster (`cluster`, `bucket`, `user`, `policy`, `tls`,
//! `audit-webhook`, each a subcommand beside `serve`).
//!
//! `sluice serve` serves the directory `--root` (default `./data`, created)
//! over S3 on `--listen` (default 127.0.0.1:9000). On first start it creates
//! a root access key and secret under `<root>/.sluice/config` (mode 0600);
//! later starts reuse them. `SLUICE_ROOT_USER` and `SLUICE_ROOT_PASSWORD`
//! set them instead. `sluice help serve` lists every option.

mod admin;
mod audit;
mod config;
mod credentials;
mod iam;
mod keys;
mod logging;
mod metrics;
mod nodes;
mod serve;
mod tls;
mod x509;

/// mimalloc (DESIGN.md §2): per-thread heaps suit thread-per-core, and it
/// gives freed memory back to the system. With glibc's malloc, the input
/// buffers of 2,000 connections closed again stayed resident (RSS doubled
/// and grew with each wave of connections, measured by the load test).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// An S3 server on a POSIX directory: buckets are directories, objects are
/// files.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, propagate_version = true)]
struct Cli {
    /// Log level: error, warn, info, debug (one line per request), trace.
    /// RUST_LOG, when set, takes precedence.
    #[arg(long, global = true, default_value = "info", value_parser = ["error", "warn", "info", "debug", "trace"])]
    log_level: String,
    /// Log format on stderr.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a directory over S3.
    Serve(Box<serve::ServeArgs>),
    /// Create or show the cluster (its config directory and admin user).
    Cluster {
        #[command(flatten)]
        at: admin::Where,
        #[command(subcommand)]
        cmd: admin::ClusterCommand,
    },
    /// Create, list or delete buckets.
    Bucket {
        #[command(flatten)]
        at: admin::Where,
        #[command(subcommand)]
        cmd: admin::BucketCommand,
    },
    /// Add, list, show, delete users or change their passwords.
    User {
        #[command(flatten)]
        at: admin::Where,
        #[command(subcommand)]
        cmd: admin::UserCommand,
    },
    /// Temporary credentials (STS).
    Sts {
        #[command(flatten)]
        at: admin::Where,
        #[command(subcommand)]
        cmd: admin::StsCommand,
    },
    /// Add, list or remove service accounts.
    ServiceAccount {
        #[command(flatten)]
        at: admin::Where,
        #[command(subcommand)]
        cmd: admin::ServiceAccountCommand,
    },
    /// Print a presigned GET URL of an object.
    Presign {
        #[command(flatten)]
        at: admin::Where,
        #[command(flatten)]
        args: admin::PresignArgs,
    },
    /// The cluster's HTTPS certificate: download, show, renew.
    Tls {
        #[command(flatten)]
        at: admin::Where,
        #[command(subcommand)]
        cmd: admin::TlsCommand,
    },
    /// The audit webhook: enable, disable, show.
    AuditWebhook {
        #[command(flatten)]
        at: admin::Where,
        #[command(subcommand)]
        cmd: admin::AuditCommand,
    },
    /// The master keys of encryption at rest: rotate, show.
    Key {
        #[command(flatten)]
        at: admin::Where,
        #[command(subcommand)]
        cmd: admin::KeyCommand,
    },
    /// Add, list, show, remove, attach and detach policies.
    Policy {
        #[command(flatten)]
        at: admin::Where,
        #[command(subcommand)]
        cmd: admin::PolicyCommand,
    },
}

fn main() -> ExitCode {
    // No transparent huge pages for this process: mimalloc advises them on
    // its arenas, and a 2 MiB page stays resident around a few live 4 KiB
    // ones, which an idle thread's trim cannot give back (RSS at rest moved
    // by whole huge pages from one soak segment to the next). First thing,
    // before much is allocated; where the kernel refuses, nothing changes.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let cli = Cli::parse();
    logging::init(&cli.log_level, &cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Cluster { at, cmd } => admin::cluster(cmd, &at),
        Command::Bucket { at, cmd } => admin::bucket(cmd, &at),
        Command::User { at, cmd } => admin::user(cmd, &at),
        Command::Policy { at, cmd } => admin::policy(cmd, &at),
        Command::Presign { at, args } => admin::presign(args, &at),
        Command::Sts { at, cmd } => admin::sts(cmd, &at),
        Command::Tls { at, cmd } => admin::tls(cmd, &at),
        Command::Key { at, cmd } => admin::key(cmd, &at),
        Command::AuditWebhook { at, cmd } => admin::audit(cmd, &at),
        Command::ServiceAccount { at, cmd } => admin::service_account(cmd, &at),
    };
    logging::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}
