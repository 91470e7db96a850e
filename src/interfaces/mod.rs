//! The outer layer: parse, authorise, call one use case, map its errors. Nothing here runs a
//! query. [`app`] is the composition root every interface starts from.

pub mod app;
pub mod cli;
pub mod http;
pub mod jobs;
pub mod web;
