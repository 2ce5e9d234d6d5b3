//! `gymops dashboard`: the whole deployment on one screen, refreshed every interval. The
//! model (what is shown, what keys do) is pure; collecting a refresh is I/O; drawing is
//! ratatui's. The command owns the terminal.

pub mod collect;
pub mod model;
pub mod view;
