//! Deploying the compose model as a Swarm stack (`deploy.orchestrator: swarm`): the
//! service specs ([`spec`]) and the steps ([`run`]).

pub mod run;
pub mod spec;
