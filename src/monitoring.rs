//! The monitoring stack's files (the guide's section 7): Prometheus scrape config, alert
//! rules, Alertmanager routing, Grafana provisioning and dashboard, and the compose file that
//! runs them. Pure: settings in, (path, contents) out; the command writes them.

use serde_json::{json, Value};

use crate::settings::{Channel, Settings, SmtpTls};

/// One file to write, relative to the monitoring directory.
#[derive(Debug, Clone)]
pub struct File {
    pub path: &'static str,
    pub contents: String,
    /// Secrets get 0600; everything else 0644.
    pub secret: bool,
}

/// A YAML string literal (single-quoted, quotes doubled), safe for any text.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn host_port(url: &url::Url) -> (String, u16) {
    (
        url.host_str().unwrap_or("localhost").to_string(),
        url.port_or_known_default().unwrap_or(80),
    )
}

/// Host names on this machine are `host.docker.internal` from inside the stack's containers.
fn from_container(host: &str) -> String {
    match host {
        "localhost" | "127.0.0.1" | "::1" | "[::1]" => "host.docker.internal".into(),
        other => other.to_string(),
    }
}

pub fn prometheus_yml(settings: &Settings) -> String {
    let monitoring = &settings.monitoring;
    let (backend_host, backend_port) = host_port(&settings.backend.url);
    let context = settings.backend.url.path().trim_end_matches('/');
    format!(
        "# Written by gymops monitoring init; re-run with --force to regenerate.
global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n  external_labels:\n    project: {project}\n    environment: {environment}\n
rule_files:\n  - alerts.yml\n
alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['alertmanager:9093']\n
scrape_configs:
  - job_name: prometheus\n    static_configs:\n      - targets: ['localhost:9090']\n
  # gymops metrics serve: probes, containers, PostgreSQL, backups, releases.
  - job_name: gymops\n    scrape_interval: {interval}s\n    static_configs:\n      - targets: [{gymops}]\n
{node_exporter}{cadvisor}{backend_job}",
        project = quote(&settings.project),
        environment = quote(&settings.environment),
        interval = settings.metrics.interval.as_secs().max(5),
        gymops = quote(&settings.metrics.scrape_target),
        node_exporter = if monitoring.node_exporter {
            "  - job_name: node-exporter\n    static_configs:\n      - targets: ['node-exporter:9100']\n"
        } else {
            ""
        },
        cadvisor = if monitoring.cadvisor {
            "  - job_name: cadvisor\n    static_configs:\n      - targets: ['cadvisor:8080']\n"
        } else {
            ""
        },
        backend_job = if monitoring.backend_metrics {
            format!(
                "  # Spring Boot actuator (micrometer-registry-prometheus in the backend).\n  - job_name: backend\n    metrics_path: {}\n    static_configs:\n      - targets: [{}]\n",
                quote(&format!("{context}/actuator/prometheus")),
                quote(&format!("{}:{backend_port}", from_container(&backend_host)))
            )
        } else {
            String::new()
        },
    )
}

struct Rule {
    name: &'static str,
    expr: String,
    for_: &'static str,
    severity: &'static str,
    summary: &'static str,
    description: &'static str,
}

pub fn alerts_yml(settings: &Settings) -> String {
    let cpu = settings.monitor.cpu_percent;
    let memory = settings.monitor.memory_percent;
    let rules = [
        Rule {
            name: "HighCPUUsage",
            expr: format!(
                "100 - (avg by(instance) (irate(node_cpu_seconds_total{{mode=\"idle\"}}[5m])) * 100) > {cpu}"
            ),
            for_: "5m",
            severity: "warning",
            summary: "High CPU usage detected",
            description: "CPU usage is {{ $value }}% on {{ $labels.instance }}",
        },
        Rule {
            name: "ServiceDown",
            expr: "up == 0".into(),
            for_: "1m",
            severity: "critical",
            summary: "Service {{ $labels.job }} is down",
            description: "Service {{ $labels.job }} has been down for more than 1 minute",
        },
        Rule {
            name: "APIDown",
            expr: "gymops_probe_up{check=\"api\"} == 0".into(),
            for_: "15s",
            severity: "critical",
            summary: "The backend API does not answer ({{ $labels.name }})",
            description: "gymops's probe of the backend's {{ $labels.name }} endpoint has failed for 15 seconds",
        },
        Rule {
            name: "ContainerDown",
            expr: "gymops_container_running == 0".into(),
            for_: "15s",
            severity: "critical",
            summary: "The container of {{ $labels.service }} is not running",
            description: "{{ $labels.container }} is stopped, restarting or missing",
        },
        Rule {
            name: "APISlowResponse",
            expr: "histogram_quantile(0.95, sum by (le) (rate(http_server_requests_seconds_bucket[5m]))) > 2".into(),
            for_: "5m",
            severity: "warning",
            summary: "API response time is slow",
            description: "95th percentile response time is {{ $value }}s, expected < 2s",
        },
        Rule {
            name: "BackupStale",
            expr: "(time() - gymops_backup_newest_timestamp_seconds) > 93600 or gymops_backups == 0".into(),
            for_: "10m",
            severity: "error",
            summary: "No fresh database backup",
            description: "The newest backup is older than 26 hours (or there is none); check the nightly backup job",
        },
        Rule {
            name: "PostgresDown",
            expr: "gymops_postgres_up == 0".into(),
            for_: "15s",
            severity: "critical",
            summary: "PostgreSQL does not answer",
            description: "gymops could not query PostgreSQL for 15 seconds",
        },
        Rule {
            name: "ContainerUnhealthy",
            expr: "gymops_container_healthy == 0".into(),
            for_: "2m",
            severity: "error",
            summary: "Container of {{ $labels.service }} is not healthy",
            description: "{{ $labels.container }} is stopped or failing its healthcheck",
        },
        Rule {
            name: "HighMemoryUsage",
            expr: format!(
                "100 * gymops_container_memory_usage_bytes / gymops_container_memory_limit_bytes > {memory}"
            ),
            for_: "5m",
            severity: "warning",
            summary: "High memory use in {{ $labels.service }}",
            description: "{{ $labels.container }} uses {{ $value }}% of its memory limit",
        },
    ];
    let mut text = String::from(
        "# Written by gymops monitoring init; re-run with --force to regenerate.\n\
groups:\n- name: fitness_gym_alerts\n  rules:\n",
    );
    // Only rules whose metrics the deployment produces: host CPU needs node-exporter, API
    // latency the backend's own metrics.
    let produced = |rule: &Rule| match rule.name {
        "HighCPUUsage" => settings.monitoring.node_exporter,
        "APISlowResponse" => settings.monitoring.backend_metrics,
        _ => true,
    };
    for rule in rules.into_iter().filter(|rule| produced(rule)) {
        text.push_str(&format!(
            "  - alert: {}\n    expr: {}\n    for: {}\n    labels:\n      severity: {}\n    annotations:\n      summary: {}\n      description: {}\n      runbook_url: {}\n\n",
            rule.name,
            quote(&rule.expr),
            rule.for_,
            rule.severity,
            quote(rule.summary),
            quote(rule.description),
            quote(&format!("docs/runbooks.md#{}", rule.name.to_lowercase())),
        ));
    }
    text
}

/// Alertmanager: one receiver, `ops`, with a config per notify channel. Email and Slack are
/// native and read their secrets from files under /etc/alertmanager/secrets; the generic
/// webhook goes through `gymops metrics serve` (`POST /alertmanager`), which holds its URL.
pub fn alertmanager_yml(settings: &Settings) -> String {
    let notify = &settings.notify;
    let email = &notify.email;
    let mut text =
        String::from("# Written by gymops monitoring init; re-run with --force to regenerate.\n");
    let wants = |channel| notify.channels.contains(&channel);
    text.push_str("global:\n  resolve_timeout: 5m\n");
    if wants(Channel::Email) {
        if let Some(host) = &email.smtp_host {
            text.push_str(&format!(
                "  smtp_smarthost: {}\n  smtp_from: {}\n  smtp_require_tls: {}\n",
                quote(&format!("{host}:{}", email.smtp_port)),
                quote(&email.from),
                email.tls == SmtpTls::Starttls
            ));
            if let Some(user) = &email.username {
                text.push_str(&format!(
                    "  smtp_auth_username: {}\n  smtp_auth_password_file: /etc/alertmanager/secrets/smtp_password\n",
                    quote(user)
                ));
            }
        }
    }
    text.push_str(
        "\nroute:\n  group_by: ['alertname']\n  group_wait: 10s\n  group_interval: 10s\n  repeat_interval: 1h\n  receiver: ops\n\nreceivers:\n- name: ops\n",
    );
    if wants(Channel::Email) && email.smtp_host.is_some() {
        text.push_str("  email_configs:\n");
        for to in &email.to {
            text.push_str(&format!("  - to: {}\n    send_resolved: true\n", quote(to)));
        }
    }
    if wants(Channel::Slack) {
        text.push_str(
            "  slack_configs:\n  - api_url_file: /etc/alertmanager/secrets/slack_webhook_url\n    send_resolved: true\n    title: '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}'\n    text: '{{ range .Alerts }}{{ .Annotations.summary }}: {{ .Annotations.description }}\n{{ end }}'\n",
        );
    }
    if wants(Channel::Webhook) {
        text.push_str(&format!(
            "  webhook_configs:\n  - url: {}\n    send_resolved: true\n    http_config:\n      authorization:\n        type: Bearer\n        credentials_file: /etc/alertmanager/secrets/relay_token\n",
            quote(&format!(
                "http://{}/alertmanager",
                settings.metrics.scrape_target
            ))
        ));
    }
    text
}

pub fn datasource_yml() -> String {
    "apiVersion: 1\ndatasources:\n  - name: Prometheus\n    uid: prometheus\n    type: prometheus\n    access: proxy\n    url: http://prometheus:9090\n    isDefault: true\n".into()
}

pub fn dashboards_provider_yml() -> String {
    "apiVersion: 1\nproviders:\n  - name: fitness-gym\n    folder: Fitness Gym\n    type: file\n    options:\n      path: /var/lib/grafana/dashboards\n".into()
}

fn panel(
    id: u32,
    title: &str,
    unit: &str,
    position: (u32, u32),
    targets: &[(&str, &str)],
) -> Value {
    let targets: Vec<Value> = targets
        .iter()
        .enumerate()
        .map(|(index, (expr, legend))| {
            json!({
                "refId": char::from(b'A' + index as u8).to_string(),
                "datasource": {"type": "prometheus", "uid": "prometheus"},
                "expr": expr,
                "legendFormat": legend,
            })
        })
        .collect();
    json!({
        "id": id,
        "title": title,
        "type": "timeseries",
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"x": position.0, "y": position.1, "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": targets,
    })
}

fn row(id: u32, title: &str, y: u32) -> Value {
    json!({"id": id, "type": "row", "title": title, "collapsed": false,
           "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
}

/// The guide's system and application dashboards (section 7.4) as one Grafana dashboard.
pub fn dashboard_json(settings: &Settings) -> String {
    let panels = vec![
        row(1, "System", 0),
        panel(2, "CPU usage by core", "percent", (0, 1), &[(
            "100 - (avg by (cpu) (irate(node_cpu_seconds_total{mode=\"idle\"}[5m])) * 100)",
            "cpu {{cpu}}",
        )]),
        panel(3, "Memory and swap", "bytes", (12, 1), &[
            ("node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes", "RAM used"),
            ("node_memory_SwapTotal_bytes - node_memory_SwapFree_bytes", "swap used"),
        ]),
        panel(4, "Disk I/O", "Bps", (0, 9), &[
            ("rate(node_disk_read_bytes_total[5m])", "read {{device}}"),
            ("rate(node_disk_written_bytes_total[5m])", "write {{device}}"),
        ]),
        panel(5, "Disk space used", "percent", (12, 9), &[(
            "100 - 100 * node_filesystem_avail_bytes{fstype!~\"tmpfs|overlay\"} / node_filesystem_size_bytes{fstype!~\"tmpfs|overlay\"}",
            "{{mountpoint}}",
        )]),
        panel(6, "Network traffic", "Bps", (0, 17), &[
            ("rate(node_network_receive_bytes_total{device!=\"lo\"}[5m])", "in {{device}}"),
            ("rate(node_network_transmit_bytes_total{device!=\"lo\"}[5m])", "out {{device}}"),
        ]),
        panel(7, "System load", "short", (12, 17), &[
            ("node_load1", "1 min"),
            ("node_load5", "5 min"),
            ("node_load15", "15 min"),
        ]),
        row(8, "Application", 25),
        panel(9, "Request rate", "reqps", (0, 26), &[(
            "sum(rate(http_server_requests_seconds_count[5m]))",
            "requests/s",
        )]),
        panel(10, "Response time P95 / P99", "s", (12, 26), &[
            ("histogram_quantile(0.95, sum by (le) (rate(http_server_requests_seconds_bucket[5m])))", "P95"),
            ("histogram_quantile(0.99, sum by (le) (rate(http_server_requests_seconds_bucket[5m])))", "P99"),
        ]),
        panel(11, "Error rate (4xx / 5xx)", "percent", (0, 34), &[
            ("100 * sum(rate(http_server_requests_seconds_count{status=~\"4..\"}[5m])) / sum(rate(http_server_requests_seconds_count[5m]))", "4xx"),
            ("100 * sum(rate(http_server_requests_seconds_count{status=~\"5..\"}[5m])) / sum(rate(http_server_requests_seconds_count[5m]))", "5xx"),
        ]),
        panel(12, "Database connections", "short", (12, 34), &[
            ("gymops_postgres_connections", "{{state}}"),
            ("gymops_postgres_max_connections", "max_connections"),
            ("hikaricp_connections_active", "pool active"),
        ]),
        row(13, "Containers and backups", 42),
        panel(14, "Container CPU", "percent", (0, 43), &[(
            "gymops_container_cpu_percent",
            "{{service}}",
        )]),
        panel(15, "Container memory", "bytes", (12, 43), &[(
            "gymops_container_memory_usage_bytes",
            "{{service}}",
        )]),
        panel(16, "Health probe latency", "s", (0, 51), &[(
            "gymops_probe_latency_seconds",
            "{{check}} {{name}}",
        )]),
        panel(17, "Newest backup age", "s", (12, 51), &[(
            "time() - gymops_backup_newest_timestamp_seconds",
            "age",
        )]),
    ];
    let dashboard = json!({
        "uid": "fitness-gym",
        "title": "Fitness Gym",
        "tags": ["fitness-gym", "gymops", settings.environment],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    });
    let mut text = serde_json::to_string_pretty(&dashboard).unwrap_or_default();
    text.push('\n');
    text
}

pub fn compose_yml(settings: &Settings) -> String {
    format!(
        "# The monitoring stack (guide section 7.1). Written by gymops monitoring init;
# started with `docker-compose -f monitoring/docker-compose.yml up -d`.
version: '3.8'\n
services:
  prometheus:\n    image: prom/prometheus:v2.53.2\n    container_name: {project}_prometheus\n    command:\n      - --config.file=/etc/prometheus/prometheus.yml\n      - --storage.tsdb.path=/prometheus\n      - --storage.tsdb.retention.time=30d\n      - --storage.tsdb.retention.size=10GB\n    volumes:\n      - ./prometheus.yml:/etc/prometheus/prometheus.yml:ro\n      - ./alerts.yml:/etc/prometheus/alerts.yml:ro\n      - prometheus_data:/prometheus\n    ports:\n      - '127.0.0.1:9090:9090'\n    extra_hosts:\n      - 'host.docker.internal:host-gateway'\n    restart: unless-stopped\n
  alertmanager:\n    image: prom/alertmanager:v0.27.0\n    container_name: {project}_alertmanager\n    command:\n      - --config.file=/etc/alertmanager/alertmanager.yml\n      - --storage.path=/alertmanager\n    volumes:\n      - ./alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro\n      - ./secrets:/etc/alertmanager/secrets:ro\n      - alertmanager_data:/alertmanager\n    ports:\n      - '127.0.0.1:9093:9093'\n    extra_hosts:\n      - 'host.docker.internal:host-gateway'\n    restart: unless-stopped\n
  grafana:\n    image: grafana/grafana:11.2.0\n    container_name: {project}_grafana\n    environment:\n      GF_SECURITY_ADMIN_USER: admin\n      GF_SECURITY_ADMIN_PASSWORD: ${{GRAFANA_ADMIN_PASSWORD:-admin}}\n    volumes:\n      - ./grafana/provisioning:/etc/grafana/provisioning:ro\n      - ./grafana/dashboards:/var/lib/grafana/dashboards:ro\n      - grafana_data:/var/lib/grafana\n    ports:\n      - '127.0.0.1:3000:3000'\n    depends_on:\n      - prometheus\n    restart: unless-stopped\n
{node_exporter}{cadvisor}
volumes:\n  prometheus_data:\n  alertmanager_data:\n  grafana_data:\n",
        project = settings.project,
        node_exporter = if settings.monitoring.node_exporter {
            "  node-exporter:\n    image: prom/node-exporter:v1.8.2\n    container_name: NAME_node_exporter\n    command:\n      - --path.rootfs=/host\n    volumes:\n      - /:/host:ro,rslave\n    pid: host\n    restart: unless-stopped\n\n"
                .replace("NAME", &settings.project)
        } else {
            String::new()
        },
        cadvisor = if settings.monitoring.cadvisor {
            "  cadvisor:\n    image: gcr.io/cadvisor/cadvisor:v0.49.1\n    container_name: NAME_cadvisor\n    volumes:\n      - /:/rootfs:ro\n      - /var/run:/var/run:ro\n      - /sys:/sys:ro\n      - /var/lib/docker/:/var/lib/docker:ro\n    privileged: true\n    restart: unless-stopped\n\n"
                .replace("NAME", &settings.project)
        } else {
            String::new()
        },
    )
}

/// Every file, with the secret files the native Alertmanager receivers read, and the
/// relay's bearer token when the webhook channel is used (`relay_token`: the configured
/// one, or one the caller made).
pub fn files(settings: &Settings, relay_token: &str) -> Vec<File> {
    let plain = |path, contents| File {
        path,
        contents,
        secret: false,
    };
    let mut files = vec![
        plain("prometheus.yml", prometheus_yml(settings)),
        plain("alerts.yml", alerts_yml(settings)),
        plain("alertmanager.yml", alertmanager_yml(settings)),
        plain(
            "grafana/provisioning/datasources/prometheus.yml",
            datasource_yml(),
        ),
        plain(
            "grafana/provisioning/dashboards/fitness-gym.yml",
            dashboards_provider_yml(),
        ),
        plain(
            "grafana/dashboards/fitness-gym.json",
            dashboard_json(settings),
        ),
        plain("docker-compose.yml", compose_yml(settings)),
    ];
    let notify = &settings.notify;
    if notify.channels.contains(&Channel::Webhook) {
        files.push(File {
            path: RELAY_TOKEN_FILE,
            contents: format!("{relay_token}\n"),
            secret: true,
        });
    }
    if notify.channels.contains(&Channel::Slack) {
        if let Some(url) = &notify.slack.webhook_url {
            files.push(File {
                path: "secrets/slack_webhook_url",
                contents: url.expose().to_string(),
                secret: true,
            });
        }
    }
    if notify.channels.contains(&Channel::Email) && notify.email.username.is_some() {
        if let Some(password) = &notify.email.password {
            files.push(File {
                path: "secrets/smtp_password",
                contents: password.expose().to_string(),
                secret: true,
            });
        }
    }
    files
}

/// Where `monitoring init` writes the relay's bearer token (Alertmanager reads it from
/// /etc/alertmanager/secrets; `metrics serve` from `metrics.relay_token_file`).
pub const RELAY_TOKEN_FILE: &str = "secrets/relay_token";

/// Why Prometheus and Alertmanager (in their containers) cannot reach `gymops metrics
/// serve`: it listens on loopback while they call it through the Docker host's address.
/// None when the addresses meet.
pub fn unreachable_listener(settings: &Settings) -> Option<String> {
    let listen_host = settings
        .metrics
        .listen
        .rsplit_once(':')
        .map(|(host, _)| host.trim_matches(['[', ']']))
        .unwrap_or("");
    let loopback = listen_host == "localhost"
        || listen_host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let target_host = settings
        .metrics
        .scrape_target
        .rsplit_once(':')
        .map(|(host, _)| host)
        .unwrap_or("");
    let target_loopback = target_host == "localhost" || target_host.starts_with("127.");
    (loopback && !target_loopback).then(|| {
        format!(
            "metrics.listen {} is loopback, which the monitoring containers cannot reach at {}: listen on the Docker bridge address instead (metrics.listen: 172.17.0.1:9464 — reachable from this host and its containers only, and the relay asks for its bearer token), or see docs/alerts-and-monitoring.md",
            settings.metrics.listen, settings.metrics.scrape_target
        )
    })
}

/// Secret files the Alertmanager config refers to but gymops could not write (no secret).
pub fn missing_secrets(settings: &Settings) -> Vec<(&'static str, &'static str)> {
    let notify = &settings.notify;
    let mut missing = Vec::new();
    if notify.channels.contains(&Channel::Slack) && notify.slack.webhook_url.is_none() {
        missing.push((
            "secrets/slack_webhook_url",
            "GYMOPS_SLACK_WEBHOOK_URL or notify.slack.webhook_url_file",
        ));
    }
    if notify.channels.contains(&Channel::Email)
        && notify.email.username.is_some()
        && notify.email.password.is_none()
    {
        missing.push((
            "secrets/smtp_password",
            "GYMOPS_SMTP_PASSWORD or notify.email.password_file",
        ));
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quoting_doubles_single_quotes() {
        assert_eq!(quote("it's"), "'it''s'");
    }

    #[test]
    fn every_generated_yaml_parses() {
        let mut settings = Settings::default();
        settings.notify.channels = vec![Channel::Email, Channel::Slack, Channel::Webhook];
        settings.notify.email.smtp_host = Some("smtp.example.com".into());
        settings.notify.email.username = Some("alerts".into());
        for file in files(&settings, "t0ken") {
            if file.path.ends_with(".yml") {
                serde_yaml::from_str::<serde_yaml::Value>(&file.contents)
                    .unwrap_or_else(|e| panic!("{}: {e}\n{}", file.path, file.contents));
            }
        }
        let alertmanager = alertmanager_yml(&settings);
        assert!(alertmanager.contains("smtp_auth_password_file"));
        assert!(alertmanager.contains("api_url_file"));
        assert!(alertmanager.contains("'http://host.docker.internal:9464/alertmanager'"));
        assert_eq!(missing_secrets(&settings).len(), 2);
    }

    #[test]
    fn the_backend_target_is_reached_from_the_containers() {
        let mut settings = Settings::default();
        settings.monitoring.backend_metrics = true;
        let text = prometheus_yml(&settings);
        assert!(text.contains("metrics_path: '/springboot1ngh61a2/actuator/prometheus'"));
        assert!(text.contains("targets: ['host.docker.internal:8080']"));
        assert!(alerts_yml(&settings).contains("alert: APISlowResponse"));
    }

    #[test]
    fn only_what_the_deployment_has_is_scraped_and_alerted_on() {
        let mut settings = Settings::default();
        settings.monitoring.node_exporter = false;
        settings.monitoring.cadvisor = false;
        let prometheus = prometheus_yml(&settings);
        for absent in [
            "job_name: backend",
            "job_name: node-exporter",
            "job_name: cadvisor",
        ] {
            assert!(!prometheus.contains(absent), "{absent} in {prometheus}");
        }
        let compose = compose_yml(&settings);
        assert!(!compose.contains("node-exporter:") && !compose.contains("cadvisor:"));
        let alerts = alerts_yml(&settings);
        assert!(!alerts.contains("HighCPUUsage") && !alerts.contains("APISlowResponse"));
        // Probe-based rules for the API and the database, critical within a minute.
        for rule in ["APIDown", "ContainerDown", "PostgresDown"] {
            let at = alerts.find(&format!("alert: {rule}")).unwrap();
            let block = &alerts[at..at + 200];
            assert!(
                block.contains("for: 15s") && block.contains("severity: critical"),
                "{block}"
            );
        }
    }
}
