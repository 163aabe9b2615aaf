//! Everything the functions share, in layers: `domain` (values, rules and
//! ports), `adapters` (DynamoDB, KMS, S3, SQS, Secrets Manager and TikTok),
//! `service` (the use cases), `edge` (HTTP), with `env` and `support` below
//! them all, `config` composing each function's settings and `startup`
//! building each function's app. Imports only flow down (see
//! `tests/layers.rs`).

pub mod adapters;
pub mod config;
pub mod domain;
pub mod edge;
pub mod env;
pub mod service;
pub mod startup;
pub mod support;
