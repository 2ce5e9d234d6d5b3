//! Deploying the compose model through the Engine API: what identifies each container
//! ([`spec`]), what to create from each service ([`create`]), and the steps of `up`, `down`
//! and the lifecycle commands ([`run`]).

pub mod attempt;
pub mod create;
pub mod images;
pub mod lock;
pub mod preflight;
pub mod releases;
pub mod report;
pub mod run;
pub mod spec;
pub mod swarm;
