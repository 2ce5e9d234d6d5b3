//! Deploying the compose model through the Engine API: what to create from each service
//! ([`spec`]), and the steps of `up`, `down` and the lifecycle commands ([`run`]).

pub mod lock;
pub mod run;
pub mod spec;
