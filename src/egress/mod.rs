//! Where egress addresses come from. Each source is async and returns
//! addresses or a typed reason it could not.

pub mod dns;
pub mod published;
