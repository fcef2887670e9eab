//! MVC Workbench: deep multi-view clustering (CVC-AFWM) as a library.
//!
//! Layers, each unaware of the ones above it (see `ARCHITECTURE.md`):
//! `data` → `model` + `loss` → `engine` → `app` / `cli`.

pub mod analysis;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod data;
pub mod engine;
pub mod export;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod palette;
pub mod panic;
pub mod pseudo;
pub mod runs;
pub mod serve;
