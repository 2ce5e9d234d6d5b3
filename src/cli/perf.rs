//! `db` and `perf`: their subcommands and arguments.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::*;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// VACUUM, ANALYZE or REINDEX, with progress and elapsed time
    #[command(subcommand)]
    Maintain(MaintainCommand),
}

#[derive(Debug, Subcommand)]
pub enum MaintainCommand {
    /// VACUUM the database or tables (reclaims dead rows; --full rewrites and locks tables)
    Vacuum(VacuumArgs),
    /// ANALYZE the database or tables (refreshes planner statistics)
    Analyze(MaintainTarget),
    /// REINDEX the database or tables (locks them: needs --yes)
    Reindex(ReindexArgs),
}

#[derive(Debug, Args)]
pub struct MaintainTarget {
    /// Only this table, as `table` or `schema.table` (repeatable) [default: the whole database]
    #[arg(long, value_name = "TABLE")]
    pub table: Vec<String>,
    #[command(flatten)]
    pub db_connection: DbConnectionArg,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    pub target: MaintainTarget,
    /// VACUUM FULL: rewrites tables to return space to the OS; locks each table exclusively
    /// while it runs, so it needs --yes
    #[arg(long)]
    pub full: bool,
    /// Also ANALYZE
    #[arg(long)]
    pub analyze: bool,
    /// Confirm that tables may be locked (with --full)
    #[arg(long, requires = "full")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ReindexArgs {
    #[command(flatten)]
    pub target: MaintainTarget,
    /// Confirm that tables may be locked while their indexes are rebuilt
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// CPU %, memory used / limit / %, network and block I/O, PIDs per service container,
    /// computed as `docker stats` does
    Stats(PerfStatsArgs),
    /// The processes inside a service's container by CPU and memory (the guide's
    /// `ps aux --sort=-%cpu | head`), without needing ps in the container
    Top(PerfTopArgs),
    /// PostgreSQL insight, read-only: connections, activity, locks, slow-queries, tables,
    /// indexes, size, writes, roles; `perf db bench` runs pgbench
    Db(PerfDbArgs),
    /// Time an HTTP endpoint by phase (DNS, connect, TLS, first byte, total) over N requests,
    /// like the guide's curl -w timing; min / p50 / p95 / p99 / max
    Api(PerfApiArgs),
    /// HTTP load: keep-alive connections, requests/s, status codes, errors by kind, latency
    /// percentiles (HDR histogram). Only loopback or the deployment's URLs without --allow-remote
    Load(PerfLoadArgs),
    /// The backend's JVM: heap / non-heap, GC counts and pause time, threads — from Spring
    /// Boot's actuator metrics, or jstat / jcmd in the backend container
    Jvm(PerfJvmArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JvmSource {
    /// The actuator when it answers, else jcmd / jstat in the container
    Auto,
    /// Spring Boot actuator metrics (and /actuator/threaddump)
    Actuator,
    /// jstat and jcmd run in the backend container (a JDK image)
    Jcmd,
}

#[derive(Debug, Args)]
pub struct PerfJvmArgs {
    /// Also take a thread dump and summarize it: states, the most common stacks, blocked
    /// threads and their locks
    #[arg(long)]
    pub threads: bool,
    /// Where to read the JVM from
    #[arg(long, value_enum, default_value_t = JvmSource::Auto)]
    pub source: JvmSource,
    /// Which threads burn CPU: two jcmd thread dumps --window apart (each thread's CPU
    /// time, JDK 11+), the top threads with their stacks
    #[arg(long, group = "diagnosis", conflicts_with = "threads")]
    pub hot_threads: bool,
    /// What fills the heap: the top classes of jcmd GC.class_histogram (forces a full GC)
    #[arg(long, group = "diagnosis", conflicts_with = "threads")]
    pub heap_histogram: bool,
    /// Run a full garbage collection (jcmd GC.run) and show the heap before and after;
    /// needs --yes
    #[arg(long, group = "diagnosis", conflicts_with = "threads")]
    pub gc_run: bool,
    /// Native memory by category (jcmd VM.native_memory summary; the JVM must run with
    /// -XX:NativeMemoryTracking=summary)
    #[arg(long, group = "diagnosis", conflicts_with = "threads")]
    pub native_memory: bool,
    /// The sampling window of --hot-threads (more than 0, at most 1h)
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = super::wait_duration, requires = "hot_threads")]
    pub window: std::time::Duration,
    /// How many threads (--hot-threads) or classes (--heap-histogram) to list [default: 10]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub top: Option<u32>,
    /// Confirm --gc-run (a full collection pauses the application)
    #[arg(long, requires = "gc_run")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct PerfLoadArgs {
    /// The URL to load
    #[arg(value_name = "URL", value_parser = parse_http_url)]
    pub url: String,
    /// Concurrent connections
    #[arg(short = 'c', long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,
    /// How long to run (at most 1h) [default: 10s, or until -n requests]
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// How many requests to send (the run still stops after --duration or 1h)
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub requests: Option<u64>,
    /// Requests per second over all connections [default: as fast as the server answers]
    #[arg(long, value_name = "RPS")]
    pub rate: Option<f64>,
    /// HTTP method
    #[arg(long, value_name = "METHOD", default_value = "GET")]
    pub method: String,
    /// Request body
    #[arg(long, value_name = "TEXT")]
    pub body: Option<String>,
    /// Extra header, `Name: value` (repeatable)
    #[arg(long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Allow a target that is neither loopback nor one of the deployment's configured URLs
    #[arg(long)]
    pub allow_remote: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendEndpoint {
    /// backend.endpoints.login
    Login,
    /// backend.endpoints.health
    Health,
    /// backend.endpoints.health_db
    HealthDb,
}

#[derive(Debug, Args)]
pub struct PerfApiArgs {
    /// The URL to time [default: the backend's login endpoint]
    #[arg(value_name = "URL", value_parser = parse_http_url, conflicts_with = "endpoint")]
    pub url: Option<String>,
    /// A configured backend endpoint instead of a URL
    #[arg(long, value_enum, value_name = "NAME")]
    pub endpoint: Option<BackendEndpoint>,
    /// Number of requests, each on a new connection
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub requests: u32,
    /// Also trust the CA certificates in this PEM file (an internal CA)
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PerfDbArgs {
    #[command(subcommand)]
    pub bench: Option<PerfDbCommand>,
    /// The view
    #[arg(value_enum, required = true)]
    pub view: Option<crate::pg::insight::DbView>,
    /// How many rows (slow-queries, tables, indexes, writes) [default: 20]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=10_000))]
    pub top: Option<i64>,
    /// Days ahead for the roles view [default: 7]
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i32).range(0..=3650))]
    pub within_days: Option<i32>,
    #[command(flatten)]
    pub db_connection: DbConnectionArg,
}

#[derive(Debug, Subcommand)]
pub enum PerfDbCommand {
    /// pgbench in the PostgreSQL container (the guide's 7.6) against a scratch database it
    /// creates and drops: TPS, latency average and percentiles from pgbench's
    /// per-transaction log
    Bench(PerfDbBenchArgs),
}

#[derive(Debug, Args)]
pub struct PerfDbBenchArgs {
    /// Scale factor of the pgbench tables (1 = 100 000 accounts)
    #[arg(short = 's', long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub scale: u32,
    /// Concurrent clients (sessions)
    #[arg(short = 'c', long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub clients: u32,
    /// pgbench worker threads (at most the clients)
    #[arg(short = 'j', long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// How long to run, in seconds
    #[arg(short = 'T', long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub time: u32,
    /// Run in this database instead of a scratch one: one that exists gets pgbench's tables
    /// for the run (and needs --yes); one that does not is created and dropped
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Confirm running pgbench in an existing database
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct PerfTopArgs {
    /// The service [default: logs.service, the backend]
    #[arg(value_name = "SERVICE", add = super::services())]
    pub service: Option<String>,
    /// Order by CPU or by resident memory
    #[arg(long, value_enum, default_value_t = TopSort::Cpu)]
    pub sort: TopSort,
    /// How many processes to show (0: all)
    #[arg(long, value_name = "N", default_value_t = 15)]
    pub limit: usize,
    #[command(flatten)]
    pub watch: super::WatchArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TopSort {
    /// CPU %, highest first
    Cpu,
    /// Resident memory, largest first
    Mem,
}

#[derive(Debug, Args)]
pub struct PerfStatsArgs {
    /// Services [default: all]
    #[arg(value_name = "SERVICE", add = super::services())]
    pub services: Vec<String>,
    #[command(flatten)]
    pub watch: super::WatchArgs,
}
