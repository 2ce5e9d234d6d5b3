//! A stand-in for the parts of the deployment that are not ours to run, for tests and
//! benchmarks: the Spring Boot backend (its login path and actuator health, with
//! `/actuator/health/db` really querying PostgreSQL) and MinIO's health endpoints and
//! console. Built with `cargo build --example standin`.
//!
//! ```text
//! standin backend --listen 0.0.0.0:8080 --db-host H --db-port 5432 --db-user U --db-name D
//!                 [--context-path /springboot1ngh61a2]      (password: STANDIN_DB_PASSWORD)
//! standin minio --listen 0.0.0.0:9000 --console 0.0.0.0:9001
//! standin probe URL                                          (exit 0 on a 2xx answer)
//! standin emit STDOUT_FILE [STDERR_FILE]   (writes the files' lines to stdout and stderr,
//!                                           then waits; exits on SIGTERM)
//! standin forward [--delay-ms N] 127.0.0.1:P=HOST:PORT|unix:/PATH ...
//!                                          (TCP forwards in one process: a site's own
//!                                           endpoints for a benchmark, without socat's
//!                                           fork per connection; with --delay-ms each
//!                                           way takes N ms and a connection opens after
//!                                           a round trip, as across a WAN)
//! ```

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Backend {
    context_path: String,
    db: tokio_postgres::Config,
    /// The pool: one connection, kept while it works.
    pool: tokio::sync::Mutex<Option<Arc<tokio_postgres::Client>>>,
}

#[derive(Clone, Copy)]
enum Role {
    Backend,
    MinioApi,
    MinioConsole,
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn required(args: &[String], name: &str) -> String {
    flag(args, name).unwrap_or_else(|| {
        eprintln!("standin: missing {name}");
        std::process::exit(64)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(if args.first().map(String::as_str) == Some("forward") {
            1
        } else {
            2
        })
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("backend") => {
            let mut db = tokio_postgres::Config::new();
            db.host(required(&args, "--db-host"))
                .port(
                    required(&args, "--db-port")
                        .parse()
                        .expect("--db-port is a number"),
                )
                .user(required(&args, "--db-user"))
                .dbname(required(&args, "--db-name"))
                .application_name("standin-backend")
                .connect_timeout(Duration::from_secs(30));
            if let Ok(password) = std::env::var("STANDIN_DB_PASSWORD") {
                db.password(password);
            }
            let backend = Arc::new(Backend {
                context_path: flag(&args, "--context-path")
                    .unwrap_or_else(|| "/springboot1ngh61a2".into()),
                db,
                pool: tokio::sync::Mutex::new(None),
            });
            let listen = required(&args, "--listen");
            runtime.block_on(serve(listen, Role::Backend, Some(backend)));
        }
        Some("minio") => {
            let api = required(&args, "--listen");
            let console = required(&args, "--console");
            runtime.block_on(async {
                tokio::join!(
                    serve(api, Role::MinioApi, None),
                    serve(console, Role::MinioConsole, None)
                );
            });
        }
        Some("probe") => std::process::exit(probe(&required(&args, "probe"))),
        Some("emit") => runtime.block_on(emit(&args[1..])),
        Some("forward") => {
            let delay = Duration::from_millis(
                flag(&args, "--delay-ms")
                    .map_or(0, |ms| ms.parse().expect("--delay-ms is a number")),
            );
            let pairs: Vec<(String, String)> = args[1..]
                .iter()
                .filter_map(|arg| arg.split_once('='))
                .map(|(listen, to)| (listen.to_string(), to.to_string()))
                .collect();
            runtime.block_on(async {
                let tasks: Vec<_> = pairs
                    .into_iter()
                    .map(|(listen, to)| tokio::spawn(forward(listen, to, delay)))
                    .collect();
                for task in tasks {
                    let _ = task.await;
                }
            })
        }
        _ => {
            eprintln!("usage: standin backend|minio|probe|emit|forward ...");
            std::process::exit(64);
        }
    }
}

/// Accept on `listen` and copy each connection both ways to `to` (`HOST:PORT` or
/// `unix:/PATH`), each way `delay` late, the connection opening a round trip late.
async fn forward(listen: String, to: String, delay: Duration) {
    let listener = TcpListener::bind(&listen).await.expect("cannot listen");
    let to = Arc::new(to);
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        let _ = inbound.set_nodelay(true);
        let to = to.clone();
        tokio::spawn(async move {
            if delay.is_zero() {
                if let Some(path) = to.strip_prefix("unix:") {
                    if let Ok(mut outbound) = tokio::net::UnixStream::connect(path).await {
                        let mut inbound = inbound;
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                } else if let Ok(mut outbound) = TcpStream::connect(to.as_str()).await {
                    let _ = outbound.set_nodelay(true);
                    let mut inbound = inbound;
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
                return;
            }
            // The handshake's round trip.
            tokio::time::sleep(delay * 2).await;
            let (inbound_read, inbound_write) = inbound.into_split();
            if let Some(path) = to.strip_prefix("unix:") {
                if let Ok(outbound) = tokio::net::UnixStream::connect(path).await {
                    let (read, write) = outbound.into_split();
                    tokio::join!(
                        delayed_copy(inbound_read, write, delay),
                        delayed_copy(read, inbound_write, delay)
                    );
                }
            } else if let Ok(outbound) = TcpStream::connect(to.as_str()).await {
                let _ = outbound.set_nodelay(true);
                let (read, write) = outbound.into_split();
                tokio::join!(
                    delayed_copy(inbound_read, write, delay),
                    delayed_copy(read, inbound_write, delay)
                );
            }
        });
    }
}

/// Copy `from` to `to`, each chunk written `delay` after it was read (a link's latency; its
/// bandwidth unlimited), the end of `from` passed on as a shutdown as late.
async fn delayed_copy(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin + Send + 'static,
    delay: Duration,
) {
    let (sender, mut receiver) =
        tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            if chunk.is_empty() || to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = from.read(&mut buffer).await.unwrap_or(0);
        let due = tokio::time::Instant::now() + delay;
        if sender.send((due, buffer[..read].to_vec())).is_err() || read == 0 {
            break;
        }
    }
    drop(sender);
    let _ = writer.await;
}

/// Write known lines to both streams, then wait for SIGTERM (a test's log source).
async fn emit(files: &[String]) {
    if let Some(path) = files.first() {
        let text = std::fs::read(path).expect("cannot read the stdout file");
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&text).unwrap();
        stdout.flush().unwrap();
    }
    if let Some(path) = files.get(1) {
        let text = std::fs::read(path).expect("cannot read the stderr file");
        let mut stderr = std::io::stderr().lock();
        stderr.write_all(&text).unwrap();
        stderr.flush().unwrap();
    }
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    term.recv().await;
}

async fn serve(listen: String, role: Role, backend: Option<Arc<Backend>>) {
    let listener = TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|err| panic!("cannot listen on {listen}: {err}"));
    println!("standin listening on {listen}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let backend = backend.clone();
        tokio::spawn(async move {
            let _ = handle(stream, role, backend).await;
        });
    }
}

async fn handle(
    mut stream: TcpStream,
    role: Role,
    backend: Option<Arc<Backend>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next().unwrap_or_default().split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let target = words.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (path, query) = (path.to_string(), query.to_string());
    let (code, content_type, body) = route(role, backend.as_deref(), &path, &query).await;
    println!("{method} {path} {code}");
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

async fn route(
    role: Role,
    backend: Option<&Backend>,
    path: &str,
    query: &str,
) -> (u16, &'static str, String) {
    const JSON: &str = "application/json";
    match role {
        Role::MinioApi => match path {
            "/minio/health/live" | "/minio/health/ready" => (200, "text/plain", String::new()),
            _ => (404, "text/plain", "not found".into()),
        },
        Role::MinioConsole => match path {
            "/login" => (
                200,
                "text/html",
                "<html><body>MinIO Console (stand-in)</body></html>".into(),
            ),
            _ => (404, "text/plain", "not found".into()),
        },
        Role::Backend => {
            let backend = backend.expect("backend role has a backend");
            let Some(rest) = path.strip_prefix(backend.context_path.as_str()) else {
                return (404, JSON, "{\"error\":\"Not Found\"}".into());
            };
            match rest {
                "/user/login" => (200, JSON, "{\"code\":0,\"msg\":\"stand-in: POST username and password\"}".into()),
                "/actuator/health" => match db_up(backend).await {
                    Ok(()) => (200, JSON, "{\"status\":\"UP\",\"components\":{\"db\":{\"status\":\"UP\"}}}".into()),
                    Err(err) => (503, JSON, format!("{{\"status\":\"DOWN\",\"components\":{{\"db\":{{\"status\":\"DOWN\",\"details\":{{\"error\":{err:?}}}}}}}}}")),
                },
                "/actuator/health/db" => match db_up(backend).await {
                    Ok(()) => (200, JSON, "{\"status\":\"UP\",\"details\":{\"database\":\"PostgreSQL\",\"validationQuery\":\"SELECT 1\"}}".into()),
                    Err(err) => (503, JSON, format!("{{\"status\":\"DOWN\",\"details\":{{\"error\":{err:?}}}}}")),
                },
                "/actuator/threaddump" => (200, JSON, threaddump()),
                _ => match rest.strip_prefix("/actuator/metrics/") {
                    Some(name) => match metric(name, query) {
                        Some(body) => (200, JSON, body),
                        None => (404, JSON, "{\"error\":\"Not Found\"}".into()),
                    },
                    None => (404, JSON, "{\"error\":\"Not Found\"}".into()),
                },
            }
        }
    }
}

/// A line of /proc/self/status as a number (`VmRSS:  1234 kB` -> 1234).
fn proc_status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The stand-in answers Spring Boot's actuator metrics about its own process (memory as
/// "heap", its threads), in Micrometer's shape, so `gymops perf jvm` has a real endpoint.
/// Memory metrics need the `area` tag, as Micrometer's do per area.
fn metric(name: &str, query: &str) -> Option<String> {
    let tag = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("tag="))
        .map(|t| {
            t.replace("%3A", ":")
                .replace("%3a", ":")
                .replace('+', " ")
                .replace("%20", " ")
        });
    let rss = proc_status("VmRSS:") * 1024;
    let threads = proc_status("Threads:").max(1);
    let value = |v: f64| format!("[{{\"statistic\":\"VALUE\",\"value\":{v}}}]");
    let (measurements, tags) = match (name, tag.as_deref()) {
        ("jvm.memory.used", None) => (value(rss as f64 + 50_331_648.0), "[{\"tag\":\"area\",\"values\":[\"heap\",\"nonheap\"]}]".to_string()),
        ("jvm.memory.used", Some("area:heap")) => (value(rss as f64), "[]".into()),
        ("jvm.memory.used", Some("area:nonheap")) => (value(50_331_648.0), "[]".into()),
        ("jvm.memory.committed", Some("area:heap")) => (value(rss as f64 * 2.0), "[]".into()),
        ("jvm.memory.committed", Some("area:nonheap")) => (value(67_108_864.0), "[]".into()),
        ("jvm.memory.max", Some("area:heap")) => (value(536_870_912.0), "[]".into()),
        ("jvm.memory.max", Some("area:nonheap")) => (value(-1.0), "[]".into()),
        ("jvm.gc.pause", None) => (
            "[{\"statistic\":\"COUNT\",\"value\":3},{\"statistic\":\"TOTAL_TIME\",\"value\":0.021},{\"statistic\":\"MAX\",\"value\":0.009}]".into(),
            "[{\"tag\":\"action\",\"values\":[\"end of minor GC\"]}]".into(),
        ),
        ("jvm.gc.pause", Some("action:end of minor GC")) => (
            "[{\"statistic\":\"COUNT\",\"value\":3},{\"statistic\":\"TOTAL_TIME\",\"value\":0.021},{\"statistic\":\"MAX\",\"value\":0.009}]".into(),
            "[]".into(),
        ),
        ("jvm.threads.live", None) => (value(threads as f64), "[]".into()),
        ("jvm.threads.daemon", None) => (value((threads - 1) as f64), "[]".into()),
        ("jvm.threads.peak", None) => (value(threads as f64), "[]".into()),
        ("jvm.threads.states", None) => (value(threads as f64), "[{\"tag\":\"state\",\"values\":[\"runnable\",\"waiting\"]}]".into()),
        ("jvm.threads.states", Some("state:runnable")) => (value(1.0), "[]".into()),
        ("jvm.threads.states", Some("state:waiting")) => (value((threads - 1) as f64), "[]".into()),
        _ => return None,
    };
    Some(format!(
        "{{\"name\":\"{name}\",\"measurements\":{measurements},\"availableTags\":{tags}}}"
    ))
}

/// `/actuator/threaddump` in Spring Boot's JSON shape, about the stand-in's own threads.
fn threaddump() -> String {
    let threads = proc_status("Threads:").max(1);
    let entries: Vec<String> = (0..threads)
        .map(|i| {
            let (name, state, frames) = if i == 0 {
                ("main", "RUNNABLE", "[{\"className\":\"sun.nio.ch.EPoll\",\"methodName\":\"wait\"},{\"className\":\"org.apache.tomcat.util.net.NioEndpoint$Poller\",\"methodName\":\"run\"}]")
            } else {
                ("http-nio-8080-exec", "WAITING", "[{\"className\":\"jdk.internal.misc.Unsafe\",\"methodName\":\"park\"},{\"className\":\"java.util.concurrent.locks.LockSupport\",\"methodName\":\"park\"}]")
            };
            format!(
                "{{\"threadName\":\"{name}-{i}\",\"threadId\":{i},\"daemon\":{},\"threadState\":\"{state}\",\"lockName\":null,\"lockOwnerName\":null,\"stackTrace\":{frames}}}",
                i > 0
            )
        })
        .collect();
    format!("{{\"threads\":[{}]}}", entries.join(","))
}

/// Like Spring's DataSourceHealthIndicator over HikariCP: a pooled connection and a
/// validation query; a connection that fails is replaced by a new one and the query asked
/// again once. No deadline shorter than the connection timeout, so a frozen database hangs
/// the request as it would hang the real backend.
async fn db_up(backend: &Backend) -> Result<(), String> {
    let pooled = backend.pool.lock().await.clone().filter(|c| !c.is_closed());
    if let Some(client) = pooled {
        if client.simple_query("SELECT 1").await.is_ok() {
            return Ok(());
        }
    }
    let (client, connection) = backend
        .db
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let client = Arc::new(client);
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| e.to_string())?;
    *backend.pool.lock().await = Some(client);
    Ok(())
}

/// A tiny blocking HTTP GET for container healthchecks: exit 0 on 2xx.
fn probe(url: &str) -> i32 {
    let Some(rest) = url.strip_prefix("http://") else {
        return 2;
    };
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let Ok(mut stream) = std::net::TcpStream::connect(authority) else {
        return 1;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return 1;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let ok = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .is_some_and(|c| (200..300).contains(&c));
    if ok {
        0
    } else {
        1
    }
}
