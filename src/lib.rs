//! MVC Workbench: deep multi-view clustering (CVC-AFWM) as a library.
//!
//! Layers, each unaware of the ones above it (see `ARCHITECTURE.md`):
//! `data` → `model` + `loss` → `engine` → `app` / `cli`.

pub mod data;
pub mod cli;
pub mod engine;
pub mod metrics;
pub mod cluster;
pub mod model;
pub mod loss;
pub mod app;
pub mod export;
pub mod serve;
