//! `gymops context ls`: the docker CLI's contexts, which one the docker CLI would use and
//! which engine this run of gymops uses (DOCKER_HOST, --context and gymops.yaml included).

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;
use crate::settings::contexts::{self, DEFAULT_CONTEXT};
use crate::settings::mask_url;

#[derive(Debug, Serialize)]
pub struct ContextList {
    /// The context gymops uses (`default`: docker.host or the local socket).
    pub in_use: String,
    /// The engine address gymops uses.
    pub engine: String,
    /// The docker CLI's config directory.
    pub config_dir: String,
    pub contexts: Vec<ContextRow>,
}

#[derive(Debug, Serialize)]
pub struct ContextRow {
    pub name: String,
    pub description: String,
    pub docker_endpoint: String,
    pub tls: bool,
    /// config.json's currentContext (what `docker` alone uses).
    pub current: bool,
    pub in_use: bool,
    /// Why the context cannot be used (a damaged store entry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub async fn ls(ctx: &Context) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let dir = contexts::config_dir(&ctx.environment);
    let current = contexts::current_context(&dir)?.unwrap_or_else(|| DEFAULT_CONTEXT.into());
    let in_use = settings
        .docker
        .context
        .clone()
        .unwrap_or_else(|| DEFAULT_CONTEXT.into());
    let engine = crate::docker::address(&settings.docker);
    let default_endpoint = ctx
        .environment
        .get("DOCKER_HOST")
        .filter(|h| !h.is_empty())
        .cloned()
        .unwrap_or_else(|| crate::docker::DEFAULT_DOCKER_HOST.to_string());
    let mut rows = vec![ContextRow {
        name: DEFAULT_CONTEXT.into(),
        description: "DOCKER_HOST or the local socket".into(),
        docker_endpoint: mask_url(if in_use == DEFAULT_CONTEXT {
            &engine
        } else {
            &default_endpoint
        }),
        tls: in_use == DEFAULT_CONTEXT && settings.docker.tls_verify,
        current: current == DEFAULT_CONTEXT,
        in_use: in_use == DEFAULT_CONTEXT,
        error: None,
    }];
    let mut status = Status::Ok;
    for entry in contexts::entries(&dir)? {
        rows.push(match entry {
            Ok(found) => ContextRow {
                current: found.name == current,
                in_use: found.name == in_use,
                docker_endpoint: mask_url(&found.host),
                tls: found.tls_dir.is_some(),
                description: found.description,
                name: found.name,
                error: None,
            },
            Err(err) => {
                status = Status::Warning;
                ContextRow {
                    name: "?".into(),
                    description: String::new(),
                    docker_endpoint: String::new(),
                    tls: false,
                    current: false,
                    in_use: false,
                    error: Some(crate::error::describe(&err).0),
                }
            }
        });
    }
    let list = ContextList {
        in_use,
        engine: mask_url(&engine),
        config_dir: dir.display().to_string(),
        contexts: rows,
    };
    ctx.printer
        .emit_result(&list, None, |printer| render(printer, &list))?;
    Ok(status)
}

fn render(printer: &Printer, list: &ContextList) -> String {
    let rows = list
        .contexts
        .iter()
        .map(|row| {
            let mut name = row.name.clone();
            if row.current {
                name.push_str(" *");
            }
            vec![
                Cell::new(name),
                Cell::new(if row.in_use { "yes" } else { "" }),
                Cell::new(&row.description),
                Cell::new(&row.docker_endpoint),
                Cell::new(if row.tls { "yes" } else { "" }),
                Cell::new(row.error.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    let mut text = printer.table(
        &[
            "NAME",
            "IN USE",
            "DESCRIPTION",
            "DOCKER ENDPOINT",
            "TLS",
            "ERROR",
        ],
        rows,
    );
    text.push_str(&format!(
        "\ngymops uses context {} ({}); * is the docker CLI's current context ({}/config.json)\n",
        list.in_use, list.engine, list.config_dir
    ));
    text
}
