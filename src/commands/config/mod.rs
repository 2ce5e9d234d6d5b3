//! `gymops config show|check`.

pub mod check;
pub mod show;
