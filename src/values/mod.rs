//! Values: reading values files, binderctl's own keys, the transformation
//! into what Helm gets, and the one YAML writer. Pure: no I/O, no network;
//! depends only on `error` and `egress::cidr` (the ranges it writes).

pub mod diff;
pub mod read;
pub mod settings;
pub mod transform;
pub mod write;
